// The service must refuse to run on uWebSockets.js's pure-JavaScript fallback.

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { isNativeUws } from '../../src/instance/http/uws.js';
import { INSTANCE_ENTRY } from '../../src/stack/paths.js';

const require = createRequire(import.meta.url);

describe('uWebSockets.js loading', () => {
  it('recognises the native binding and not the fallback', () => {
    expect(isNativeUws(require('uWebSockets.js'))).toBe(true);
    expect(isNativeUws(require('uWebSockets.js/dist/index.js'))).toBe(false);
  });

  it('an instance forced onto the fallback refuses to start, saying why', () => {
    const result = spawnSync(process.execPath, [INSTANCE_ENTRY], {
      encoding: 'utf8',
      timeout: 20_000,
      env: {
        ...process.env,
        UWS_USE_FALLBACK: 'true',
        DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none',
        CREBITO_LISTEN: '127.0.0.1:1',
      },
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('native uWebSockets.js');
  });
});
