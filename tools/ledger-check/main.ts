// `npm run check:ledger`: a bank test in the manner of Jepsen's. Many
// concurrent clients send debits, credits and statement reads through the
// public port for a bounded time; every request and its answer is recorded
// with its start and end time; at the end the database is read and the
// history judged against the invariants in ledger-invariants.ts.
//
//   npm run check:ledger                          # against the running npm start
//   npm run check:ledger -- --start --faults      # own stack, with faults injected
//   npm run check:ledger -- --duration 60 --clients 32
//
// With --faults, while the load runs: one instance is killed with SIGKILL
// (the launcher restarts it), another is frozen with SIGSTOP for a few
// seconds, PostgreSQL is shut down abruptly (the launcher restarts it and it
// recovers from its WAL), and slow clients trickle bytes at nginx. Requests
// may fail meanwhile; the invariants must still hold, and the verdict says
// how long the service took to recover from each fault.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { readLauncherConfig } from '../../src/stack/config.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { judge, INVARIANTS, type DatabaseState, type Operation, type StatementOperation, type TransactionOperation, type Verdict } from './invariants.js';
import { readStackState } from '../../src/stack/state.js';
import { getFromListenAddress, makeDataDirectory, stackPort, startStack } from '../harness/stack.js';

const REQUEST_TIMEOUT_MS = 15_000;
const RECOVERY_TIMEOUT_MS = 60_000;
const PROBE_TIMEOUT_MS = 2_000;
const SETTLE_TIMEOUT_MS = 30_000;
const STOP_FREEZE_MS = 3_000;
const SLOW_CLIENTS = 64;
const SLOW_CLIENT_TRICKLE_MS = 4_000;
const STATEMENT_SHARE = 0.25;

export interface FaultRecord {
  name: string;
  atMs: number;
  detail: string;
  /** From the end of the fault (the kill, the SIGCONT, the crash) until the service answered again. */
  recoveryMs: number | null;
}

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

async function readDatabase(databaseUrl: string, clientIds: number[]): Promise<{ limits: Record<number, number>; balances: Record<number, number>; lastId: number; client: pg.Client }> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'crebito-ledger-check' });
  await client.connect();
  const { rows } = await client.query<{ id: number; limite: number; saldo: string }>('SELECT id, limite, saldo FROM clientes WHERE id = ANY($1) ORDER BY id', [clientIds]);
  const lastId = Number((await client.query<{ last: string | null }>('SELECT max(id) AS last FROM transacoes')).rows[0]!.last ?? 0);
  const limits: Record<number, number> = {};
  const balances: Record<number, number> = {};
  for (const row of rows) {
    limits[row.id] = row.limite;
    balances[row.id] = Number(row.saldo);
  }
  return { limits, balances, lastId, client };
}

/** A GET to a listen address (the public port, or one instance's socket) answered 200 within the probe timeout. */
async function probe(listen: string, pathName: string): Promise<boolean> {
  return (await getFromListenAddress(listen, pathName, PROBE_TIMEOUT_MS))?.status === 200;
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<number | null> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await condition()) return performance.now() - started;
    await sleep(50);
  }
  return null;
}

/** Every instance answers a statement read (which needs the database) through its own socket. */
async function allInstancesServe(dataDirectory: string): Promise<boolean> {
  const state = readStackState(dataDirectory);
  if (state.instances.some((instance) => instance.pid === undefined)) return false;
  const answers = await Promise.all(state.instances.map((instance) => probe(instance.listen, '/clientes/1/extrato')));
  return answers.every(Boolean);
}

interface FaultContext {
  dataDirectory: string;
  port: number;
  elapsed: () => number;
  log: (line: string) => void;
}

async function killInstance(context: FaultContext): Promise<FaultRecord> {
  const victim = readStackState(context.dataDirectory).instances[0]!;
  const atMs = context.elapsed();
  process.kill(victim.pid!, 'SIGKILL');
  context.log(`fault: SIGKILL ${victim.name} (pid ${victim.pid})`);
  const recoveryMs = await waitUntil(async () => {
    const now = readStackState(context.dataDirectory).instances.find((instance) => instance.name === victim.name);
    return now?.pid !== undefined && now.pid !== victim.pid && await allInstancesServe(context.dataDirectory);
  }, RECOVERY_TIMEOUT_MS);
  return { name: 'kill-instance', atMs, detail: `SIGKILL ${victim.name} (pid ${victim.pid}); the launcher restarts it`, recoveryMs };
}

async function freezeInstance(context: FaultContext): Promise<FaultRecord> {
  const state = readStackState(context.dataDirectory);
  const victim = state.instances[state.instances.length - 1]!;
  const atMs = context.elapsed();
  process.kill(victim.pid!, 'SIGSTOP');
  context.log(`fault: SIGSTOP ${victim.name} (pid ${victim.pid}) for ${STOP_FREEZE_MS} ms`);
  await sleep(STOP_FREEZE_MS);
  process.kill(victim.pid!, 'SIGCONT');
  const recoveryMs = await waitUntil(() => allInstancesServe(context.dataDirectory), RECOVERY_TIMEOUT_MS);
  return { name: 'freeze-instance', atMs, detail: `SIGSTOP ${victim.name} for ${STOP_FREEZE_MS} ms, then SIGCONT`, recoveryMs };
}

async function crashPostgres(context: FaultContext): Promise<FaultRecord> {
  const state = readStackState(context.dataDirectory);
  const atMs = context.elapsed();
  if (state.postgres === null) {
    return { name: 'crash-postgres', atMs, detail: 'skipped: DATABASE_URL names an external PostgreSQL the checker does not control', recoveryMs: null };
  }
  // SIGQUIT to the postmaster is PostgreSQL's immediate shutdown: no
  // checkpoint, every backend killed; the next start replays the WAL.
  process.kill(state.postgres.pid, 'SIGQUIT');
  context.log(`fault: immediate shutdown of PostgreSQL (pid ${state.postgres.pid})`);
  const recoveryMs = await waitUntil(async () => {
    const now = readStackState(context.dataDirectory);
    return now.postgres !== null && now.postgres.pid !== state.postgres!.pid && await allInstancesServe(context.dataDirectory);
  }, RECOVERY_TIMEOUT_MS);
  return { name: 'crash-postgres', atMs, detail: `immediate shutdown (SIGQUIT) of pid ${state.postgres.pid}; the launcher starts it again`, recoveryMs };
}

async function slowClients(context: FaultContext): Promise<FaultRecord> {
  const atMs = context.elapsed();
  context.log(`fault: ${SLOW_CLIENTS} slow clients trickle a request one byte at a time for ${SLOW_CLIENT_TRICKLE_MS} ms`);
  const sockets = Array.from({ length: SLOW_CLIENTS }, () => {
    const socket = net.connect(context.port, '127.0.0.1');
    socket.on('error', () => undefined);
    return socket;
  });
  const request = 'POST /clientes/1/transacoes HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\nContent-Length: 44\r\n\r\n{"valor": 1, "tipo": "c", "descricao": "x"}';
  let offset = 0;
  const trickle = setInterval(() => {
    for (const socket of sockets) if (!socket.destroyed) socket.write(request.slice(offset, offset + 1));
    offset = (offset + 1) % request.length;
  }, 250);
  // While they hold connections, the service must keep answering others.
  let worstProbeMs = 0;
  let failedProbes = 0;
  const deadline = performance.now() + SLOW_CLIENT_TRICKLE_MS;
  while (performance.now() < deadline) {
    const started = performance.now();
    if (!(await probe(`127.0.0.1:${context.port}`, '/clientes/2/extrato'))) failedProbes++;
    worstProbeMs = Math.max(worstProbeMs, performance.now() - started);
    await sleep(100);
  }
  clearInterval(trickle);
  for (const socket of sockets) socket.destroy();
  const recoveryMs = await waitUntil(() => probe(`127.0.0.1:${context.port}`, '/clientes/2/extrato'), RECOVERY_TIMEOUT_MS);
  return {
    name: 'slow-clients',
    atMs,
    detail: `${SLOW_CLIENTS} connections trickling bytes; meanwhile ${failedProbes} probe(s) failed and the slowest took ${worstProbeMs.toFixed(0)} ms`,
    recoveryMs: failedProbes === 0 ? 0 : recoveryMs,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '20' },
      clients: { type: 'string', default: '16' },
      faults: { type: 'boolean', default: false },
      start: { type: 'boolean', default: false },
      mode: { type: 'string', default: 'durable' },
      port: { type: 'string' },
      out: { type: 'string', default: path.join(PROJECT_ROOT, 'results') },
    },
  });
  const durationMs = Number(values.duration) * 1000;
  const concurrency = Number(values.clients);
  if (!(durationMs >= 1000 && durationMs <= 3_600_000) || !(concurrency >= 1 && concurrency <= 1000)) {
    throw new Error('--duration must be 1..3600 seconds and --clients 1..1000');
  }
  if (values.mode !== 'durable' && values.mode !== 'fast') throw new Error('--mode is durable or fast');

  const ownStack = values.start
    ? await startStack({ port: values.port === undefined ? await stackPort() : Number(values.port), dataDirectory: makeDataDirectory(), environment: { CREBITO_DATABASE_MODE: values.mode } })
    : undefined;
  const dataDirectory = ownStack?.dataDirectory ?? readLauncherConfig(process.env).dataDirectory;
  let valid = false;
  try {
    const state = readStackState(dataDirectory);
    const baseUrl = `http://127.0.0.1:${state.port}`;
    const clientIds = [1, 2, 3, 4, 5];
    const initial = await readDatabase(state.databaseUrl, clientIds);
    await initial.client.end();

    const runTag = Math.random().toString(36).slice(2, 5).padEnd(3, '0');
    let serial = 0;
    const nextDescricao = () => `${runTag}${(serial++).toString(36).padStart(7, '0')}`;
    const history: Operation[] = [];
    const runStarted = performance.now();
    const elapsed = () => performance.now() - runStarted;
    const log = (line: string) => console.log(`[${(elapsed() / 1000).toFixed(1).padStart(5)} s] ${line}`);

    const schedule: { atFraction: number; name: string; inject: (context: FaultContext) => Promise<FaultRecord> }[] = values.faults
      ? [
        { atFraction: 0.12, name: 'SIGKILL one API instance (the launcher restarts it)', inject: killInstance },
        { atFraction: 0.32, name: `SIGSTOP one API instance for ${STOP_FREEZE_MS} ms, then SIGCONT`, inject: freezeInstance },
        { atFraction: 0.52, name: 'immediate shutdown of PostgreSQL (the launcher restarts it)', inject: crashPostgres },
        { atFraction: 0.75, name: `${SLOW_CLIENTS} slow clients trickling bytes for ${SLOW_CLIENT_TRICKLE_MS} ms`, inject: slowClients },
      ]
      : [];
    console.log(`check:ledger: ${concurrency} clients for ${durationMs / 1000} s against ${baseUrl}, database ${state.databaseMode ?? 'external'}, run tag ${runTag}`);
    for (const fault of schedule) console.log(`  fault at ${((fault.atFraction * durationMs) / 1000).toFixed(1)} s: ${fault.name}`);

    const transactionOnce = async (): Promise<void> => {
      const clientId = clientIds[Math.floor(Math.random() * clientIds.length)]!;
      const limit = initial.limits[clientId]!;
      const roll = Math.random();
      // Mostly ordinary amounts, some large enough that refusals happen.
      const valor = roll < 0.7 ? 1 + Math.floor(Math.random() * 10000)
        : roll < 0.9 ? 1 + Math.floor(Math.random() * (limit / 10))
          : 1 + Math.floor(limit * (0.5 + Math.random() * 0.7));
      const tipo = Math.random() < 2 / 3 ? 'd' : 'c';
      const operation: TransactionOperation = { kind: 'transacao', clientId, valor, tipo, descricao: nextDescricao(), startMs: elapsed(), endMs: 0, status: 0, outcome: 'unknown' };
      history.push(operation);
      try {
        const response = await fetch(`${baseUrl}/clientes/${clientId}/transacoes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ valor, tipo, descricao: operation.descricao }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await response.text();
        operation.status = response.status;
        if (response.status === 200) {
          const body = JSON.parse(text) as { saldo: number; limite: number };
          Object.assign(operation, { outcome: 'applied', saldo: body.saldo, limite: body.limite });
        } else if (response.status === 422) {
          operation.outcome = text.includes('limite_excedido') ? 'refused' : 'invalid';
        } else if (response.status === 404) {
          operation.outcome = 'not-found';
        }
      } catch {
        // Timed out or lost the connection: the outcome is unknown.
      }
      operation.endMs = elapsed();
    };

    const statementOnce = async (): Promise<void> => {
      const clientId = clientIds[Math.floor(Math.random() * clientIds.length)]!;
      const operation: StatementOperation = { kind: 'extrato', clientId, startMs: elapsed(), endMs: 0, status: 0, outcome: 'unknown' };
      history.push(operation);
      try {
        const response = await fetch(`${baseUrl}/clientes/${clientId}/extrato`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        const text = await response.text();
        operation.status = response.status;
        if (response.status === 200) {
          const body = JSON.parse(text) as { saldo: { total: number; limite: number }; ultimas_transacoes: StatementOperation['transactions'] };
          Object.assign(operation, { outcome: 'read', total: body.saldo.total, limite: body.saldo.limite, transactions: body.ultimas_transacoes });
        } else if (response.status === 404) {
          operation.outcome = 'not-found';
        }
      } catch {
        // Unknown: the read tells us nothing.
      }
      operation.endMs = elapsed();
    };

    const deadline = runStarted + durationMs;
    const worker = async () => {
      while (performance.now() < deadline) await (Math.random() < STATEMENT_SHARE ? statementOnce() : transactionOnce());
    };
    const context: FaultContext = { dataDirectory, port: state.port, elapsed, log };
    const faultRecords: FaultRecord[] = [];
    const faults = (async () => {
      for (const fault of schedule) {
        const wait = fault.atFraction * durationMs - elapsed();
        if (wait > 0) await sleep(wait);
        const record = await fault.inject(context);
        log(`recovered from ${record.name} ${record.recoveryMs === null ? 'NEVER' : `after ${record.recoveryMs.toFixed(0)} ms`}`);
        faultRecords.push(record);
      }
    })();
    await Promise.all([...Array.from({ length: concurrency }, worker), faults]);

    // Let every instance finish what it holds before reading the books.
    const settledAfter = await waitUntil(async () => {
      const healths = await Promise.all(readStackState(dataDirectory).instances.map((instance) => probe(instance.listen, '/health')));
      return healths.every(Boolean);
    }, SETTLE_TIMEOUT_MS);
    if (settledAfter === null) log('warning: an instance did not answer /health after the run');
    await sleep(500);

    const final = await readDatabase(state.databaseUrl, clientIds);
    const { rows } = await final.client.query<{ id: string; cliente_id: number; valor: number; tipo: 'c' | 'd'; descricao: string; realizada_em: string }>(
      `SELECT id, cliente_id, valor, tipo, descricao,
              to_char(realizada_em AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS realizada_em
         FROM transacoes WHERE cliente_id = ANY($1) ORDER BY id`, [clientIds]);
    await final.client.end();
    const database: DatabaseState = {
      limits: initial.limits,
      initialBalances: initial.balances,
      initialLastId: initial.lastId,
      finalBalances: final.balances,
      transactions: rows.map((row) => ({ id: Number(row.id), clientId: row.cliente_id, valor: row.valor, tipo: row.tipo, descricao: row.descricao, realizada_em: row.realizada_em })),
    };

    const verdict = judge(history, database, runTag);
    valid = verdict.valid && (!values.faults || faultRecords.every((record) => record.recoveryMs !== null || record.detail.startsWith('skipped')));
    printVerdict(verdict, faultRecords, valid);

    fs.mkdirSync(values.out, { recursive: true });
    // The verdict alone is small enough to keep in the repository; the full
    // history (every request and answer) is written beside it for digging.
    const base = path.join(values.out, values.faults ? 'ledger-check-faults' : 'ledger-check');
    const summary = { date: new Date().toISOString(), runTag, durationMs, concurrency, databaseMode: state.databaseMode, valid, verdict, faults: faultRecords };
    fs.writeFileSync(`${base}-verdict.json`, `${JSON.stringify(summary, null, 2)}\n`);
    fs.writeFileSync(`${base}-history.json`, `${JSON.stringify({ ...summary, history }, null, 1)}\n`);
    console.log(`wrote ${base}-verdict.json and ${base}-history.json`);
  } finally {
    await ownStack?.dispose();
  }
  process.exitCode = valid ? 0 : 1;
}

function printVerdict(verdict: Verdict, faults: FaultRecord[], valid: boolean): void {
  console.log('');
  console.log(`valid: ${valid}`);
  console.log(`operations: ${verdict.operations} (transactions: ${verdict.transactions.acknowledged} acknowledged, ${verdict.transactions.refused} refused, ${verdict.transactions.invalid} invalid, ${verdict.transactions.unknown} unknown of which ${verdict.transactions.unknownApplied} applied; statements: ${verdict.statements.read} read, ${verdict.statements.unknown} unknown)`);
  for (const [number, description] of Object.entries(INVARIANTS)) {
    const key = Number(number) as keyof typeof INVARIANTS;
    console.log(`  ${number}. ${verdict.violations[key] === 0 ? 'ok' : `${verdict.violations[key]} VIOLATIONS`}: ${description}`);
    for (const example of verdict.examples[key]) console.log(`       ${example}`);
  }
  for (const fault of faults) {
    console.log(`  fault ${fault.name} at ${(fault.atMs / 1000).toFixed(1)} s: ${fault.detail}; recovered ${fault.recoveryMs === null ? 'NEVER' : `in ${fault.recoveryMs.toFixed(0)} ms`}`);
  }
}

main().catch((error: unknown) => {
  console.error(`check:ledger: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
});
