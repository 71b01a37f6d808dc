// Regressions in how an instance counts and ends requests: each test is
// named after the bug it guards and failed before its fix.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { readHealth } from '../support/health.js';
import { startInstance } from '../support/instance.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.close();
});

/** Opens a connection, sends a request's head and half its body, then leaves. */
function halfUploadThenLeave(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(
        'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{"valor": 5, "tipo": "c"',
        () => {
          setTimeout(() => socket.destroy(), 50);
        },
      );
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

describe('an instance counts and ends its requests', () => {
  it('regression: five clients that send half a POST body and leave are not counted in flight forever, and SIGTERM then exits at once', async () => {
    const instance = await startInstance({
      databaseUrl: database.url,
      environment: { CREBITO_SHUTDOWN_TIMEOUT_MS: '3000' },
    });
    const listen = `127.0.0.1:${instance.port}`;
    for (let client = 0; client < 5; client++) await halfUploadThenLeave(instance.port);
    await waitForOrThrow('in-flight count back to zero', async () => (await readHealth(listen)).inFlight === 0, {
      timeoutMs: 5000,
      intervalMs: 20,
    });
    // Before the fix the count stayed at 5, and the stop waited out its
    // whole timeout and exited 1 without closing the pool.
    expect(await instance.stop('SIGTERM')).toBe(0);
    expect(instance.output()).not.toContain('gave up waiting');
  });
});
