// Reads an instance's /health over its own listen address (a unix socket or a
// TCP port), bypassing nginx, so a test can ask each instance for itself. The
// public address shows what it serves; its admin address adds the pid and
// the ledger's numbers (queues, pool, breaker, expired keys).

import type { ServerHealth } from '../../src/instance/http/server.js';
import { waitFor } from '../../src/shared/wait.js';
import { getFromListenAddress } from '../../tools/harness/stack.js';

const IDLE_POLL_MS = 25;

export interface InstanceHealth {
  instance: string;
  /** Only on the admin address, with the ledger's numbers. */
  pid?: number;
  inFlight: number;
  served: { transacoes: number; extrato: number; other: number };
}

export async function readHealth(listen: string): Promise<InstanceHealth> {
  const answer = await getFromListenAddress(listen, '/health', 5000);
  if (answer?.status !== 200) throw new Error(`${listen} did not answer /health (${answer?.status ?? 'no answer'})`);
  return JSON.parse(answer.body) as InstanceHealth;
}

/** An instance's admin /health, typed as the instance builds it: the ledger's queues, pool, breaker and expired keys too. */
export async function readAdminHealth(admin: string): Promise<ServerHealth> {
  return (await readHealth(admin)) as unknown as ServerHealth;
}

/** Waits until every listed instance reports no request in flight. */
export async function waitUntilIdle(listens: string[], timeoutMs = 10_000): Promise<void> {
  let inFlight: number[] = [];
  const idle = await waitFor(
    async () => {
      inFlight = (await Promise.all(listens.map(readHealth))).map((health) => health.inFlight);
      return inFlight.every((count) => count === 0);
    },
    { timeoutMs, intervalMs: IDLE_POLL_MS },
  );
  if (idle === undefined) throw new Error(`requests still in flight: ${JSON.stringify(inFlight)}`);
}
