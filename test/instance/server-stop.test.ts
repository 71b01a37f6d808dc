// How an instance's server stops, in process: the ledger points at a
// database that does not exist, because nothing here reaches it (only /health
// and unknown routes are asked, and neither touches the database).

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from '../../src/instance/ledger/ledger.js';
import { createMetrics } from '../../src/instance/metrics.js';
import { createServer } from '../../src/instance/http/server.js';
import { createLog } from '../../src/shared/log.js';
import { waitFor } from '../../src/shared/wait.js';
import { freePort } from '../../tools/harness/stack.js';
import { API_OPERATIONS } from '../../src/instance/operations/index.js';

let ledger: Ledger | undefined;

afterEach(async () => {
  await ledger?.close();
  ledger = undefined;
});

async function startServer() {
  const metrics = createMetrics({
    enabled: false,
    health: () => {
      throw new Error('not scraped here');
    },
  });
  ledger = createLedger({
    databaseUrl: 'postgresql://nobody@127.0.0.1:1/none',
    applicationName: 'unit',
    log: createLog({ program: 'instance', name: 'unit', level: 'silent' }),
    metrics,
    poolClientsMax: 4,
    queueLengthMax: 8,
    queueWaitMsMax: 100,
    requestTimeoutMs: 200,
    breakerFailuresMax: 3,
    connectTimeoutMs: 100,
    queryTimeoutMs: 100,
    batchSizeMax: 4,
    writesInFlightMax: 1,
    readsInFlightMax: 1,
    idempotencyRetentionS: 86_400,
    idempotencyWaitMsMax: 50,
    historyDbMsPerSecond: 100,
    allowSuperuser: 'off',
    apiKeysStaleMs: 1000,
    operations: API_OPERATIONS,
  });
  const server = createServer({ ledger, instanceName: 'unit', metrics, onAnswered: () => undefined });
  const port = await freePort();
  await server.listen({ kind: 'tcp', host: '127.0.0.1', port });
  return { server, port };
}

/** A keep-alive connection that has had one answer and now sits idle, as nginx keeps them. */
async function idleKeepAlive(port: number): Promise<{ closed: () => boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  let closed = false;
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    socket.once('data', () => resolve());
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  return { closed: () => closed };
}

describe('stopping the server', () => {
  it('regression: idle keep-alive connections were left open while the pool closed, so a late request met an ended pool (503 banco_indisponivel)', async () => {
    const { server, port } = await startServer();
    const connections = await Promise.all([idleKeepAlive(port), idleKeepAlive(port), idleKeepAlive(port)]);
    expect(connections.some((connection) => connection.closed())).toBe(false);
    const { drained } = await server.stop(1000);
    expect(drained).toBe(true);
    // Once stop() resolves the caller closes the pool; by then no
    // connection may be left that could still bring a request.
    const allClosed = await waitFor(() => connections.every((connection) => connection.closed()), {
      timeoutMs: 5000,
      intervalMs: 10,
    });
    expect(allClosed).toBeDefined();
  });

  it('regression: a second stop() passed silently; it is a bug and throws', async () => {
    const { server } = await startServer();
    await server.stop(1000);
    await expect(server.stop(1000)).rejects.toThrow(/stopped twice/);
  });
});
