// The second opinion on PostgreSQL alone (db-alone.ts): pgbench, the
// server's own benchmark client, sending the same calls in the same ratio at
// the same rate, prepared, each connection on its own client row (so no call
// waits on another's lock). Its per-transaction log gives every latency,
// from the transaction's scheduled start (pgbench --rate's own definition),
// which the bench reads into its histograms.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { STATEMENT_TRANSACTIONS_MAX } from '../../../src/shared/limits.js';
import { LatencyHistogram } from '../load/latency-histogram.js';
import { PUBLIC_TEST_RATES } from '../scenarios.js';
import { DB_ALONE_CONNECTIONS } from './db-alone.js';

const PGBENCH_BINARY = 'pgbench';
/** Each connection its own client row, 1..DB_ALONE_CONNECTIONS, as db-alone.ts does. */
const CLIENT_OF_CONNECTION = `\\set cid 1 + (:client_id % ${DB_ALONE_CONNECTIONS})`;

const SCRIPTS = {
  debit: [
    CLIENT_OF_CONNECTION,
    '\\set valor random(1, 10000)',
    "SELECT resultado, limite, saldo FROM registrar_transacao(:cid, :valor, 'd', 'pgbench-d1');",
  ],
  credit: [
    CLIENT_OF_CONNECTION,
    '\\set valor random(1, 10000)',
    "SELECT resultado, limite, saldo FROM registrar_transacao(:cid, :valor, 'c', 'pgbench-c1');",
  ],
  statement: [
    CLIENT_OF_CONNECTION,
    `SELECT ordem, saldo, limite, data_extrato, valor, tipo, descricao, realizada_em FROM ` +
      `extratos(ARRAY[:cid::integer], ${STATEMENT_TRANSACTIONS_MAX});`,
  ],
} as const;
const WEIGHTS = {
  debit: PUBLIC_TEST_RATES.debits,
  credit: PUBLIC_TEST_RATES.credits,
  statement: PUBLIC_TEST_RATES.statements,
};

export const PGBENCH_NAME = 'db-alone@public, by pgbench';

export interface PgbenchOutcome {
  /** From each call's actual start to its end (the log's time): what the bench's own generator times. */
  latency: LatencyHistogram;
  /** From each call's scheduled start (time + schedule lag: pgbench --rate's own latency). */
  fromSchedule: LatencyHistogram;
  /** How late each call started against its schedule: a Poisson arrival that found every connection busy waits. */
  scheduleLag: LatencyHistogram;
  /** Transactions pgbench reported as failed. */
  failed: number;
  version: string;
}

/**
 * One line of pgbench's per-transaction log (no aggregation, --rate on):
 * client_id transaction_no time script_no time_epoch time_us schedule_lag.
 * time runs from the transaction's scheduled start (pgbench.c's
 * processXactStats: now - txn_scheduled), schedule_lag is how late its
 * actual start was against that schedule, both in µs; a skipped or failed
 * transaction says so in the time field.
 */
export function timesUsOfLogLine(line: string): { fromScheduleUs: number; lagUs: number } | 'failed' | undefined {
  const fields = line.trim().split(/\s+/);
  if (fields.length < 7) return undefined;
  const [, , time, , , , lag] = fields;
  if (time === 'skipped' || time === 'failed' || time === 'serialization' || time === 'deadlock') return 'failed';
  const [fromScheduleUs, lagUs] = [Number(time), Number(lag)];
  if (!(Number.isFinite(fromScheduleUs) && Number.isFinite(lagUs)))
    throw new Error(`pgbench wrote a log line the bench cannot read: ${line}`);
  return { fromScheduleUs, lagUs };
}

/**
 * The latency from the call's actual start (what the bench's own generator times): time - schedule_lag, in µs.
 * (Until 2026-12-06 the bench read time + schedule_lag, counting the lag twice.)
 */
export function latencyUsOfLogLine(line: string): number | 'failed' | undefined {
  const times = timesUsOfLogLine(line);
  return times === undefined || times === 'failed' ? times : Math.max(0, times.fromScheduleUs - times.lagUs);
}

export async function runPgbench(
  databaseUrl: string,
  options: { ratePerSecond: number; durationSeconds: number },
): Promise<PgbenchOutcome> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-pgbench-'));
  try {
    const scriptArguments = Object.entries(SCRIPTS).flatMap(([kind, lines]) => {
      const file = path.join(directory, `${kind}.sql`);
      fs.writeFileSync(file, `${lines.join('\n')}\n`);
      return ['-f', `${file}@${WEIGHTS[kind as keyof typeof WEIGHTS]}`];
    });
    const output = await run(
      [
        '-n',
        '-M',
        'prepared',
        '-c',
        String(DB_ALONE_CONNECTIONS),
        '-j',
        '1',
        '-R',
        String(options.ratePerSecond),
        '-T',
        String(options.durationSeconds),
        '-l',
        `--log-prefix=${path.join(directory, 'log')}`,
        ...scriptArguments,
        databaseUrl,
      ],
      directory,
    );
    const outcome = {
      latency: new LatencyHistogram(),
      fromSchedule: new LatencyHistogram(),
      scheduleLag: new LatencyHistogram(),
      failed: 0,
      version: pgbenchVersion(),
    };
    for (const file of fs.readdirSync(directory).filter((name) => name.startsWith('log'))) {
      for (const line of fs.readFileSync(path.join(directory, file), 'utf8').split('\n')) {
        const parsed = timesUsOfLogLine(line);
        if (parsed === 'failed') outcome.failed++;
        else if (parsed !== undefined) {
          outcome.latency.record(Math.max(0, parsed.fromScheduleUs - parsed.lagUs) / 1000);
          outcome.fromSchedule.record(parsed.fromScheduleUs / 1000);
          outcome.scheduleLag.record(parsed.lagUs / 1000);
        }
      }
    }
    if (outcome.latency.count === 0) throw new Error(`pgbench logged no transaction:\n${output.slice(-2000)}`);
    return outcome;
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

function pgbenchVersion(): string {
  try {
    return (
      /pgbench \(PostgreSQL\) (\S+)/.exec(execFileSync(PGBENCH_BINARY, ['--version'], { encoding: 'utf8' }))?.[1] ??
      'unknown'
    );
  } catch {
    return 'unknown';
  }
}

function run(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PGBENCH_BINARY, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', (error) =>
      reject(new Error(`cannot run ${PGBENCH_BINARY} (apt-get install postgresql-client): ${error.message}`)),
    );
    child.once('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`pgbench exited with ${code}:\n${output.slice(-2000)}`)),
    );
  });
}
