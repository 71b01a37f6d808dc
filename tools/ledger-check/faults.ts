// The faults --faults injects while the load runs, each at its fraction of
// the run and at least a quiet gap after the one before: one instance killed
// with SIGKILL (the launcher restarts it), another frozen with SIGSTOP for
// 10 s (the launcher's liveness probe restarts it), PostgreSQL shut down
// abruptly (the launcher restarts it and it recovers from its WAL), a
// client's row locked from outside (transactions outlive their clients'
// timeouts and are applied after them), PostgreSQL frozen with SIGSTOP (the
// instances fail fast, then recover), slow clients trickling bytes at nginx,
// and, from stack-faults.ts, nginx's master killed and a heavy history
// reader. Each fault reports how long the service took to serve again after
// it, and its window for the availability verdict.

import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { isSameProcess, processTree } from '../../src/stack/processes.js';
import { readStackState } from '../../src/stack/state.js';
import type { FaultWindow } from './availability.js';
import type { FaultContext, FaultRecord } from './fault-record.js';
import {
  HEAVY_CLIENT_ID,
  HEAVY_READ_MS,
  HEAVY_READERS,
  heavyReader,
  INSTANCE_NOTICED_MS,
  killNginx,
} from './stack-faults.js';
import { allInstancesServe, probe, recoveryMs } from './probes.js';

const STOP_FREEZE_MS = 3_000;
// Longer than the launcher waits for a silent instance (CREBITO_LIVENESS_TIMEOUT_MS).
const INSTANCE_FREEZE_MS = 10_000;
const LOCK_ROW_MS = 5_000;
const LOCKED_CLIENT_ID = 1;
const QUIET_GAP_MS = 2_000;
const SLOW_CLIENTS = 64;
const SLOW_CLIENT_TRICKLE_MS = 4_000;
const SLOW_CLIENT_BYTE_INTERVAL_MS = 250;
const SLOW_CLIENT_PROBE_INTERVAL_MS = 100;
const SLOW_CLIENT_REQUEST =
  'POST /clientes/1/transacoes HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n' +
  'Content-Length: 44\r\n\r\n{"valor": 1, "tipo": "c", "descricao": "x"}';

export type { FaultContext, FaultRecord } from './fault-record.js';

interface ScheduledFault {
  atFraction: number;
  name: string;
  inject: (context: FaultContext) => Promise<FaultRecord>;
}

export const FAULT_SCHEDULE: readonly ScheduledFault[] = [
  { atFraction: 0.06, name: 'SIGKILL one API instance (the launcher restarts it)', inject: killInstance },
  {
    atFraction: 0.14,
    name: `SIGSTOP one API instance for ${INSTANCE_FREEZE_MS} ms (the launcher restarts it), then SIGCONT`,
    inject: freezeInstance,
  },
  { atFraction: 0.36, name: 'immediate shutdown of PostgreSQL (the launcher restarts it)', inject: crashPostgres },
  {
    atFraction: 0.44,
    name: `client ${LOCKED_CLIENT_ID}'s row locked FOR UPDATE from outside for ${LOCK_ROW_MS} ms`,
    inject: lockRow,
  },
  {
    atFraction: 0.56,
    name: `SIGSTOP PostgreSQL and every backend for ${STOP_FREEZE_MS} ms, then SIGCONT`,
    inject: freezePostgres,
  },
  {
    atFraction: 0.64,
    name: `${SLOW_CLIENTS} slow clients trickling bytes for ${SLOW_CLIENT_TRICKLE_MS} ms`,
    inject: slowClients,
  },
  { atFraction: 0.72, name: "SIGKILL of nginx's master (the launcher restarts it)", inject: killNginx },
  {
    atFraction: 0.8,
    name: `${HEAVY_READERS} readers of client ${HEAVY_CLIENT_ID}'s large history, selective filters, for ${HEAVY_READ_MS} ms`,
    inject: heavyReader,
  },
];

/** Injects each fault of the schedule at its time, one after another; resolves when the last has recovered. */
export async function injectFaults(
  schedule: readonly ScheduledFault[],
  context: FaultContext,
  durationMs: number,
): Promise<FaultRecord[]> {
  const records: FaultRecord[] = [];
  for (const fault of schedule) {
    // A quiet stretch after each recovery, at the least: the availability
    // verdict compares each fault's window with the quiet ones.
    const wait = Math.max(fault.atFraction * durationMs - context.elapsed(), records.length === 0 ? 0 : QUIET_GAP_MS);
    if (wait > 0) await sleep(wait);
    const record = await fault.inject(context);
    context.log(
      `recovered from ${record.name} ${record.recoveryMs === null ? 'NEVER' : `after ${record.recoveryMs.toFixed(0)} ms`}`,
    );
    records.push(record);
  }
  return records;
}

/** The window of a fault every request passes through (the database): nothing to judge but its recovery. */
const everything = (name: string, startMs: number, endMs: number): FaultWindow => ({
  name,
  startMs,
  endMs,
  scope: { kind: 'all' },
  graceMs: 0,
});

async function killInstance(context: FaultContext): Promise<FaultRecord> {
  const victim = readStackState(context.dataDirectory).instances[0]!;
  const atMs = context.elapsed();
  process.kill(victim.pid!, 'SIGKILL');
  context.log(`fault: SIGKILL ${victim.name} (pid ${victim.pid})`);
  const recovery = await recoveryMs(async () => {
    const now = readStackState(context.dataDirectory).instances.find((instance) => instance.name === victim.name);
    return now?.pid !== undefined && now.pid !== victim.pid && (await allInstancesServe(context.dataDirectory));
  });
  const window = {
    name: 'kill-instance',
    startMs: atMs,
    endMs: context.elapsed(),
    scope: { kind: 'none' as const },
    graceMs: INSTANCE_NOTICED_MS,
  };
  return {
    name: 'kill-instance',
    atMs,
    detail: `SIGKILL ${victim.name} (pid ${victim.pid}); the launcher restarts it`,
    recoveryMs: recovery,
    window,
  };
}

/**
 * One instance stops without exiting. nginx gives up on what it sent there
 * after the instances' deadline and a margin, and sends new requests to the
 * other; the launcher kills and restarts it once it has been silent for its
 * liveness timeout, so the SIGCONT may find it gone.
 */
async function freezeInstance(context: FaultContext): Promise<FaultRecord> {
  const state = readStackState(context.dataDirectory);
  const victim = state.instances[state.instances.length - 1]!;
  const atMs = context.elapsed();
  process.kill(victim.pid!, 'SIGSTOP');
  context.log(`fault: SIGSTOP ${victim.name} (pid ${victim.pid}) for ${INSTANCE_FREEZE_MS} ms`);
  await sleep(INSTANCE_FREEZE_MS);
  if (isSameProcess(victim)) process.kill(victim.pid!, 'SIGCONT');
  const restarted = !isSameProcess(victim);
  const endMs = context.elapsed();
  const recovery = await recoveryMs(() => allInstancesServe(context.dataDirectory));
  const detail = `SIGSTOP ${victim.name} for ${INSTANCE_FREEZE_MS} ms; ${restarted ? 'the launcher restarted it meanwhile' : 'then SIGCONT'}`;
  return {
    name: 'freeze-instance',
    atMs,
    detail,
    recoveryMs: recovery,
    window: { name: 'freeze-instance', startMs: atMs, endMs, scope: { kind: 'none' }, graceMs: INSTANCE_NOTICED_MS },
  };
}

async function crashPostgres(context: FaultContext): Promise<FaultRecord> {
  const { postgres } = readStackState(context.dataDirectory);
  const atMs = context.elapsed();
  if (postgres === null) {
    return {
      name: 'crash-postgres',
      atMs,
      detail: 'skipped: DATABASE_URL names an external PostgreSQL the checker does not control',
      recoveryMs: null,
      window: everything('crash-postgres', atMs, atMs),
    };
  }
  // SIGQUIT to the postmaster is PostgreSQL's immediate shutdown: no
  // checkpoint, every backend killed; the next start replays the WAL.
  process.kill(postgres.pid, 'SIGQUIT');
  context.log(`fault: immediate shutdown of PostgreSQL (pid ${postgres.pid})`);
  const recovery = await recoveryMs(async () => {
    const now = readStackState(context.dataDirectory);
    return (
      now.postgres !== null && now.postgres.pid !== postgres.pid && (await allInstancesServe(context.dataDirectory))
    );
  });
  return {
    name: 'crash-postgres',
    atMs,
    detail: `immediate shutdown (SIGQUIT) of pid ${postgres.pid}; the launcher starts it again`,
    recoveryMs: recovery,
    window: everything('crash-postgres', atMs, context.elapsed()),
  };
}

/**
 * A session outside the service (a DBA's query, a stuck migration, a long
 * report) holds one client's row. The ledger's functions skip a locked row,
 * so that client's transactions are answered 503 cliente_ocupado, nothing
 * applied, once their queue wait is over (invariant 1 holds them to that),
 * and its retries with the same key must not find them applied. Every other
 * client's requests must not notice (the availability verdict).
 */
async function lockRow(context: FaultContext): Promise<FaultRecord> {
  const atMs = context.elapsed();
  const session = new pg.Client({
    connectionString: readStackState(context.dataDirectory).databaseUrl,
    application_name: 'crebito-ledger-check-lock-row',
  });
  await session.connect();
  let endMs: number;
  try {
    await session.query('BEGIN');
    await session.query('SELECT 1 FROM clientes WHERE id = $1 FOR UPDATE', [LOCKED_CLIENT_ID]);
    context.log(`fault: client ${LOCKED_CLIENT_ID}'s row locked FOR UPDATE from outside for ${LOCK_ROW_MS} ms`);
    await sleep(LOCK_ROW_MS);
    await session.query('COMMIT');
    endMs = context.elapsed();
  } finally {
    await session.end();
  }
  const recovery = await recoveryMs(() => allInstancesServe(context.dataDirectory));
  const window = {
    name: 'lock-row',
    startMs: atMs,
    endMs,
    scope: { kind: 'client' as const, clientId: LOCKED_CLIENT_ID },
    graceMs: 0,
  };
  return {
    name: 'lock-row',
    atMs,
    detail: `client ${LOCKED_CLIENT_ID}'s row locked FOR UPDATE from outside for ${LOCK_ROW_MS} ms`,
    recoveryMs: recovery,
    window,
  };
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
    return {
      name: 'freeze-postgres',
      atMs,
      detail: 'skipped: DATABASE_URL names an external PostgreSQL the checker does not control',
      recoveryMs: null,
      window: everything('freeze-postgres', atMs, atMs),
    };
  }
  const frozen = processTree(postgres.pid);
  for (const pid of frozen) process.kill(pid, 'SIGSTOP');
  context.log(
    `fault: SIGSTOP PostgreSQL (pid ${postgres.pid}) and its ${frozen.length - 1} children for ${STOP_FREEZE_MS} ms`,
  );
  await sleep(STOP_FREEZE_MS);
  for (const pid of frozen) process.kill(pid, 'SIGCONT');
  const endMs = context.elapsed();
  const recovery = await recoveryMs(() => allInstancesServe(context.dataDirectory));
  return {
    name: 'freeze-postgres',
    atMs,
    detail: `SIGSTOP PostgreSQL and its children for ${STOP_FREEZE_MS} ms, then SIGCONT`,
    recoveryMs: recovery,
    window: everything('freeze-postgres', atMs, endMs),
  };
}

async function slowClients(context: FaultContext): Promise<FaultRecord> {
  const atMs = context.elapsed();
  const publicPort = `127.0.0.1:${context.port}`;
  context.log(
    `fault: ${SLOW_CLIENTS} slow clients trickle a request one byte at a time for ${SLOW_CLIENT_TRICKLE_MS} ms`,
  );
  const stopTrickling = trickle(context.port);
  // While they hold connections, the service must keep answering others.
  const probes = await probeFor(publicPort, SLOW_CLIENT_TRICKLE_MS).finally(stopTrickling);
  const endMs = context.elapsed();
  const recovery = await recoveryMs(() => probe(publicPort, '/clientes/2/extrato'));
  return {
    name: 'slow-clients',
    atMs,
    detail: `${SLOW_CLIENTS} connections trickling bytes; meanwhile ${probes.failed} probe(s) failed and the slowest took ${probes.worstMs.toFixed(0)} ms`,
    recoveryMs: probes.failed === 0 ? 0 : recovery,
    window: { name: 'slow-clients', startMs: atMs, endMs, scope: { kind: 'none' }, graceMs: 0 },
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
