// The change stream's faults, added to --faults when the stack streams
// (CREBITO_EVENTS=on): the publisher killed with SIGKILL, the broker killed
// with SIGKILL (the launcher restarts each), and the broker frozen with
// SIGSTOP for BROKER_FREEZE_MS. None may touch the API (their availability
// windows judge every request), and the stream's verdict (stream-verdict.ts)
// must still hold after them.

import { setTimeout as sleep } from 'node:timers/promises';
import { isSameProcess } from '../../src/stack/processes.js';
import { readStackState } from '../../src/stack/state.js';
import type { FaultContext, FaultRecord } from './fault-record.js';
import { allInstancesServe, recoveryMs } from './probes.js';

const BROKER_FREEZE_MS = 15_000;
const RESTART_TIMEOUT_MS = 60_000;
const RESTART_POLL_MS = 100;

function streamOf(context: FaultContext) {
  const events = readStackState(context.dataDirectory).events;
  if (events === undefined) throw new Error('the stack does not stream (CREBITO_EVENTS is off)');
  return events;
}

async function waitForNewPid(context: FaultContext, read: () => number | undefined, old: number): Promise<boolean> {
  const deadline = performance.now() + RESTART_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const now = read();
    if (now !== undefined && now !== old) return true;
    await sleep(RESTART_POLL_MS);
  }
  context.log(`warning: pid ${old} was not replaced within ${RESTART_TIMEOUT_MS} ms`);
  return false;
}

async function record(
  context: FaultContext,
  name: string,
  atMs: number,
  detail: string,
  restarted: boolean,
): Promise<FaultRecord> {
  const endMs = context.elapsed();
  const recovery = restarted ? await recoveryMs(() => allInstancesServe(context.dataDirectory)) : null;
  return {
    name,
    atMs,
    detail,
    recoveryMs: recovery,
    window: { name, startMs: atMs, endMs, scope: { kind: 'none' }, graceMs: 0 },
  };
}

export async function killPublisher(context: FaultContext): Promise<FaultRecord> {
  const victim = streamOf(context).publisher.pid!;
  const atMs = context.elapsed();
  process.kill(victim, 'SIGKILL');
  context.log(`fault: SIGKILL the change stream's publisher (pid ${victim})`);
  const restarted = await waitForNewPid(context, () => streamOf(context).publisher.pid, victim);
  return record(
    context,
    'kill-publisher',
    atMs,
    `SIGKILL publisher pid ${victim}; the launcher restarts it`,
    restarted,
  );
}

export async function killBroker(context: FaultContext): Promise<FaultRecord> {
  const victim = streamOf(context).broker.pid;
  const atMs = context.elapsed();
  if (victim === undefined)
    return record(
      context,
      'kill-broker',
      atMs,
      'skipped: CREBITO_EVENTS_URL names a broker the checker does not control',
      false,
    );
  process.kill(victim, 'SIGKILL');
  context.log(`fault: SIGKILL RabbitMQ (pid ${victim})`);
  const restarted = await waitForNewPid(context, () => streamOf(context).broker.pid, victim);
  return record(context, 'kill-broker', atMs, `SIGKILL RabbitMQ pid ${victim}; the launcher restarts it`, restarted);
}

export async function freezeBroker(context: FaultContext): Promise<FaultRecord> {
  const broker = streamOf(context).broker;
  const atMs = context.elapsed();
  if (broker.pid === undefined)
    return record(
      context,
      'freeze-broker',
      atMs,
      'skipped: CREBITO_EVENTS_URL names a broker the checker does not control',
      false,
    );
  process.kill(broker.pid, 'SIGSTOP');
  context.log(`fault: SIGSTOP RabbitMQ (pid ${broker.pid}) for ${BROKER_FREEZE_MS} ms`);
  await sleep(BROKER_FREEZE_MS);
  if (isSameProcess(broker as Parameters<typeof isSameProcess>[0])) process.kill(broker.pid, 'SIGCONT');
  return record(context, 'freeze-broker', atMs, `SIGSTOP RabbitMQ for ${BROKER_FREEZE_MS} ms, then SIGCONT`, true);
}

export const STREAM_FAULT_SCHEDULE = [
  { atFraction: 0.22, name: "SIGKILL the change stream's publisher (the launcher restarts it)", inject: killPublisher },
  { atFraction: 0.28, name: 'SIGKILL RabbitMQ (the launcher restarts it)', inject: killBroker },
  { atFraction: 0.86, name: `SIGSTOP RabbitMQ for ${BROKER_FREEZE_MS} ms, then SIGCONT`, inject: freezeBroker },
] as const;
