// Owns loading uWebSockets.js. The package we depend on (an alias of a build
// that loads on glibc 2.36) quietly swaps in a slow pure-JavaScript server when
// its native binary fails to load. crebito refuses to run on that fallback: a
// service that is silently ten times slower is worse than one that says why
// it will not start.

import { createRequire } from 'node:module';
import type * as UwsTypes from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/** True when the module is the native binding; the fallback lacks these exports. */
export function isNativeUws(module: Record<string, unknown>): boolean {
  return (
    typeof module.SSLApp === 'function' &&
    typeof module.getParts === 'function' &&
    typeof module.LIBUS_LISTEN_EXCLUSIVE_PORT === 'number'
  );
}

function loadNativeUws(): typeof UwsTypes {
  if (process.env.UWS_USE_FALLBACK) {
    throw new Error('UWS_USE_FALLBACK is set: crebito runs only on the native uWebSockets.js binary');
  }
  const module = require('uWebSockets.js') as typeof UwsTypes;
  if (!isNativeUws(module as unknown as Record<string, unknown>)) {
    throw new Error(
      'uWebSockets.js loaded its pure-JavaScript fallback, not the native binary ' +
        `(node ${process.version}, ${process.platform}-${process.arch}, ABI ${process.versions.modules}). ` +
        'crebito refuses to run on the fallback; use a Node.js version the installed build supports.',
    );
  }
  return module;
}

export const uws = loadNativeUws();
