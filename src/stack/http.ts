// Owns the one way the launcher (and the tools, through it) asks one process
// for a page over its own listen address, bypassing nginx: a unix socket or
// a host:port, as listen.ts writes them.

import http from 'node:http';
import { parseListenTarget } from '../shared/listen.js';

/** One GET; resolves with the status and body, or undefined when nothing answered within timeoutMs. */
export function getFromListenAddress(
  listen: string,
  pathName: string,
  timeoutMs: number,
): Promise<{ status: number; body: string } | undefined> {
  const target = parseListenTarget(listen);
  const address = target.kind === 'unix' ? { socketPath: target.path } : { host: target.host, port: target.port };
  return new Promise((resolve) => {
    const request = http.get({ ...address, path: pathName, agent: false, timeout: timeoutMs }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', () => resolve(undefined));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}
