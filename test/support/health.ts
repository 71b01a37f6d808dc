// Reads an instance's /health over its own listen address (a unix socket or a
// TCP port), bypassing nginx, so a test can ask each instance for itself.

import http from 'node:http';

export interface InstanceHealth {
  instance: string;
  pid: number;
  inFlight: number;
  served: { transacoes: number; extrato: number; other: number };
}

export function readHealth(listen: string): Promise<InstanceHealth> {
  const target = listen.startsWith('unix:')
    ? { socketPath: listen.slice('unix:'.length) }
    : { host: listen.slice(0, listen.lastIndexOf(':')), port: Number(listen.slice(listen.lastIndexOf(':') + 1)) };
  return new Promise((resolve, reject) => {
    const request = http.get({ ...target, path: '/health', agent: false }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      response.on('end', () => {
        try {
          resolve(JSON.parse(text) as InstanceHealth);
        } catch (error) {
          reject(error);
        }
      });
    });
    request.on('error', reject);
  });
}

/** Waits until every listed instance reports no request in flight. */
export async function waitUntilIdle(listens: string[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const healths = await Promise.all(listens.map(readHealth));
    if (healths.every((health) => health.inFlight === 0)) return;
    if (Date.now() > deadline) throw new Error(`requests still in flight: ${JSON.stringify(healths.map((health) => health.inFlight))}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
