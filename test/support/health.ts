// Reads an instance's /health over its own listen address (a unix socket or a
// TCP port), bypassing nginx, so a test can ask each instance for itself.

import { getFromListenAddress } from '../../tools/harness/stack.js';

export interface InstanceHealth {
  instance: string;
  pid: number;
  inFlight: number;
  served: { transacoes: number; extrato: number; other: number };
}

export async function readHealth(listen: string): Promise<InstanceHealth> {
  const answer = await getFromListenAddress(listen, '/health', 5000);
  if (answer?.status !== 200) throw new Error(`${listen} did not answer /health (${answer?.status ?? 'no answer'})`);
  return JSON.parse(answer.body) as InstanceHealth;
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
