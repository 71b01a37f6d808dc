// The faults --faults injects while the load runs, each at its fraction of
// the run: one instance killed with SIGKILL (the launcher restarts it),
// another frozen with SIGSTOP for a few seconds, PostgreSQL shut down
// abruptly (the launcher restarts it and it recovers from its WAL), a
// client's row held by a session outside the service (so that transactions
// outlive their clients' timeouts and are applied after them), PostgreSQL
// frozen with SIGSTOP (the instances fail fast, then recover), and slow
// clients trickling bytes at nginx. Each fault reports how long the service
// took to serve again after it.

import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { waitFor } from '../../src/shared/wait.js';
import { processTree } from '../../src/stack/processes.js';
import { readStackState } from '../../src/stack/state.js';
import { allInstancesServe, probe } from './probes.js';

const RECOVERY_TIMEOUT_MS = 60_000;
const RECOVERY_POLL_MS = 50;
const STOP_FREEZE_MS = 3_000;
const STALL_MS = 3_000;
const STALLED_CLIENT_ID = 1;
const SLOW_CLIENTS = 64;
const SLOW_CLIENT_TRICKLE_MS = 4_000;
const SLOW_CLIENT_BYTE_INTERVAL_MS = 250;
const SLOW_CLIENT_PROBE_INTERVAL_MS = 100;
const SLOW_CLIENT_REQUEST = 'POST /clientes/1/transacoes HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\nContent-Length: 44\r\n\r\n{"valor": 1, "tipo": "c", "descricao": "x"}';

export interface FaultRecord {
  name: string;
  atMs: number;
  detail: string;
  /** From the end of the fault (the kill, the SIGCONT, the crash) until the service answered again. */
  recoveryMs: number | null;
}

export interface FaultContext {
  dataDirectory: string;
  port: number;
  elapsed: () => number;
  log: (line: string) => void;
}

interface ScheduledFault {
  atFraction: number;
  name: string;
  inject: (context: FaultContext) => Promise<FaultRecord>;
}

export const FAULT_SCHEDULE: readonly ScheduledFault[] = [
  { atFraction: 0.12, name: 'SIGKILL one API instance (the launcher restarts it)', inject: killInstance },
  { atFraction: 0.32, name: `SIGSTOP one API instance for ${STOP_FREEZE_MS} ms, then SIGCONT`, inject: freezeInstance },
  { atFraction: 0.45, name: 'immediate shutdown of PostgreSQL (the launcher restarts it)', inject: crashPostgres },
  { atFraction: 0.55, name: `client ${STALLED_CLIENT_ID}'s row locked from outside for ${STALL_MS} ms`, inject: stallClient },
  { atFraction: 0.65, name: `SIGSTOP PostgreSQL and every backend for ${STOP_FREEZE_MS} ms, then SIGCONT`, inject: freezePostgres },
  { atFraction: 0.75, name: `${SLOW_CLIENTS} slow clients trickling bytes for ${SLOW_CLIENT_TRICKLE_MS} ms`, inject: slowClients },
];

/** Injects each fault of the schedule at its time, one after another; resolves when the last has recovered. */
export async function injectFaults(schedule: readonly ScheduledFault[], context: FaultContext, durationMs: number): Promise<FaultRecord[]> {
  const records: FaultRecord[] = [];
  for (const fault of schedule) {
    const wait = fault.atFraction * durationMs - context.elapsed();
    if (wait > 0) await sleep(wait);
    const record = await fault.inject(context);
    context.log(`recovered from ${record.name} ${record.recoveryMs === null ? 'NEVER' : `after ${record.recoveryMs.toFixed(0)} ms`}`);
    records.push(record);
  }
  return records;
}

/** Milliseconds until condition() holds, or null when it did not within the recovery timeout. */
async function recoveryMs(condition: () => Promise<boolean>): Promise<number | null> {
  return (await waitFor(condition, { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: RECOVERY_POLL_MS })) ?? null;
}

async function killInstance(context: FaultContext): Promise<FaultRecord> {
  const victim = readStackState(context.dataDirectory).instances[0]!;
  const atMs = context.elapsed();
  process.kill(victim.pid!, 'SIGKILL');
  context.log(`fault: SIGKILL ${victim.name} (pid ${victim.pid})`);
  const recovery = await recoveryMs(async () => {
    const now = readStackState(context.dataDirectory).instances.find((instance) => instance.name === victim.name);
    return now?.pid !== undefined && now.pid !== victim.pid && await allInstancesServe(context.dataDirectory);
  });
  return { name: 'kill-instance', atMs, detail: `SIGKILL ${victim.name} (pid ${victim.pid}); the launcher restarts it`, recoveryMs: recovery };
}

async function freezeInstance(context: FaultContext): Promise<FaultRecord> {
  const state = readStackState(context.dataDirectory);
  const victim = state.instances[state.instances.length - 1]!;
  const atMs = context.elapsed();
  process.kill(victim.pid!, 'SIGSTOP');
  context.log(`fault: SIGSTOP ${victim.name} (pid ${victim.pid}) for ${STOP_FREEZE_MS} ms`);
  await sleep(STOP_FREEZE_MS);
  process.kill(victim.pid!, 'SIGCONT');
  const recovery = await recoveryMs(() => allInstancesServe(context.dataDirectory));
  return { name: 'freeze-instance', atMs, detail: `SIGSTOP ${victim.name} for ${STOP_FREEZE_MS} ms, then SIGCONT`, recoveryMs: recovery };
}

async function crashPostgres(context: FaultContext): Promise<FaultRecord> {
  const { postgres } = readStackState(context.dataDirectory);
  const atMs = context.elapsed();
  if (postgres === null) {
    return { name: 'crash-postgres', atMs, detail: 'skipped: DATABASE_URL names an external PostgreSQL the checker does not control', recoveryMs: null };
  }
  // SIGQUIT to the postmaster is PostgreSQL's immediate shutdown: no
  // checkpoint, every backend killed; the next start replays the WAL.
  process.kill(postgres.pid, 'SIGQUIT');
  context.log(`fault: immediate shutdown of PostgreSQL (pid ${postgres.pid})`);
  const recovery = await recoveryMs(async () => {
    const now = readStackState(context.dataDirectory);
    return now.postgres !== null && now.postgres.pid !== postgres.pid && await allInstancesServe(context.dataDirectory);
  });
  return { name: 'crash-postgres', atMs, detail: `immediate shutdown (SIGQUIT) of pid ${postgres.pid}; the launcher starts it again`, recoveryMs: recovery };
}

/**
 * A session outside the service (a stuck admin transaction, say) holds a
 * client's row. Calls that touch it wait in the database, longer than a
 * keyed attempt waits for its answer (workload.ts), and commit once the
 * row is free: applied after their clients gave up, which is what a retry
 * with the same key must find out without applying them again.
 */
async function stallClient(context: FaultContext): Promise<FaultRecord> {
  const atMs = context.elapsed();
  const session = new pg.Client({ connectionString: readStackState(context.dataDirectory).databaseUrl, application_name: 'crebito-ledger-check-stall' });
  await session.connect();
  try {
    await session.query('BEGIN');
    await session.query('SELECT 1 FROM clientes WHERE id = $1 FOR UPDATE', [STALLED_CLIENT_ID]);
    context.log(`fault: client ${STALLED_CLIENT_ID}'s row locked from outside for ${STALL_MS} ms`);
    await sleep(STALL_MS);
    await session.query('COMMIT');
  } finally {
    await session.end();
  }
  const recovery = await recoveryMs(() => allInstancesServe(context.dataDirectory));
  return { name: 'stall-client', atMs, detail: `client ${STALLED_CLIENT_ID}'s row locked from outside for ${STALL_MS} ms`, recoveryMs: recovery };
}

/**
 * PostgreSQL stops answering without going away: requests meet their
 * deadline (503 banco_sem_resposta, which may have been applied) and then the
 * breaker (503 banco_indisponivel, not applied), and the checker holds the
 * service to what each 503 said.
 */
async function freezePostgres(context: FaultContext): Promise<FaultRecord> {
  const { postgres } = readStackState(context.dataDirectory);
  const atMs = context.elapsed();
  if (postgres === null) {
    return { name: 'freeze-postgres', atMs, detail: 'skipped: DATABASE_URL names an external PostgreSQL the checker does not control', recoveryMs: null };
  }
  const frozen = processTree(postgres.pid);
  for (const pid of frozen) process.kill(pid, 'SIGSTOP');
  context.log(`fault: SIGSTOP PostgreSQL (pid ${postgres.pid}) and its ${frozen.length - 1} children for ${STOP_FREEZE_MS} ms`);
  await sleep(STOP_FREEZE_MS);
  for (const pid of frozen) process.kill(pid, 'SIGCONT');
  const recovery = await recoveryMs(() => allInstancesServe(context.dataDirectory));
  return { name: 'freeze-postgres', atMs, detail: `SIGSTOP PostgreSQL and its children for ${STOP_FREEZE_MS} ms, then SIGCONT`, recoveryMs: recovery };
}

async function slowClients(context: FaultContext): Promise<FaultRecord> {
  const atMs = context.elapsed();
  const publicPort = `127.0.0.1:${context.port}`;
  context.log(`fault: ${SLOW_CLIENTS} slow clients trickle a request one byte at a time for ${SLOW_CLIENT_TRICKLE_MS} ms`);
  const stopTrickling = trickle(context.port);
  // While they hold connections, the service must keep answering others.
  const probes = await probeFor(publicPort, SLOW_CLIENT_TRICKLE_MS).finally(stopTrickling);
  const recovery = await recoveryMs(() => probe(publicPort, '/clientes/2/extrato'));
  return {
    name: 'slow-clients',
    atMs,
    detail: `${SLOW_CLIENTS} connections trickling bytes; meanwhile ${probes.failed} probe(s) failed and the slowest took ${probes.worstMs.toFixed(0)} ms`,
    recoveryMs: probes.failed === 0 ? 0 : recovery,
  };
}

/** Opens the slow clients and has each send one byte of a request at a time; the returned function closes them. */
function trickle(port: number): () => void {
  const sockets = Array.from({ length: SLOW_CLIENTS }, () => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    return socket;
  });
  let offset = 0;
  const timer = setInterval(() => {
    for (const socket of sockets) if (!socket.destroyed) socket.write(SLOW_CLIENT_REQUEST.slice(offset, offset + 1));
    offset = (offset + 1) % SLOW_CLIENT_REQUEST.length;
  }, SLOW_CLIENT_BYTE_INTERVAL_MS);
  return () => {
    clearInterval(timer);
    for (const socket of sockets) socket.destroy();
  };
}

/** Reads a statement through the public port again and again for a while: how many failed, and the slowest. */
async function probeFor(publicPort: string, durationMs: number): Promise<{ failed: number; worstMs: number }> {
  let failed = 0;
  let worstMs = 0;
  const deadline = performance.now() + durationMs;
  while (performance.now() < deadline) {
    const started = performance.now();
    if (!(await probe(publicPort, '/clientes/2/extrato'))) failed++;
    worstMs = Math.max(worstMs, performance.now() - started);
    await sleep(SLOW_CLIENT_PROBE_INTERVAL_MS);
  }
  return { failed, worstMs };
}
