// Where the breakdown's figures come from, each switched on for one run
// and back off afterwards (so the other scenarios run as shipped):
//
//   nginx        an access log in a bench-only format, $request_time against
//                $upstream_response_time (nginx keeps time to the millisecond)
//   PostgreSQL   every statement's duration in its log (bind, then execute: the
//                function's own time; the commit comes after it, at Sync), and
//                the WAL's write and fsync counts and times (track_wal_io_timing)
//   instances    their /metrics: time per request, event-loop delay, GC pauses,
//                how many requests shared a call

import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { StackState } from '../../../src/stack/state.js';
import { LatencyHistogram } from '../load/latency-histogram.js';

const NGINX_FORMAT = "log_format crebito_bench '$request_time|$upstream_response_time|$status';";
/**
 * Time for nginx's new workers to take over after a reload, and for a reloaded PostgreSQL setting to reach every
 * backend.
 */
const SETTLE_MS = 500;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface NginxTiming {
  total: LatencyHistogram;
  upstream: LatencyHistogram;
  nginxOwn: LatencyHistogram;
}

/** Turns nginx's timing log on; the returned function reads it and turns it off again. */
export async function nginxTimingLog(
  state: StackState,
  runDirectory: string,
): Promise<() => Promise<NginxTiming | undefined>> {
  const configPath = path.join(runDirectory, 'nginx.conf');
  const nginxPid = state.nginx?.pid;
  if (nginxPid === undefined || !fs.existsSync(configPath)) return async () => undefined;
  const original = fs.readFileSync(configPath, 'utf8');
  const logPath = path.join(runDirectory, 'bench-timing.log');
  fs.writeFileSync(
    configPath,
    original.replace('access_log off;', `${NGINX_FORMAT}\n    access_log ${logPath} crebito_bench;`),
  );
  process.kill(nginxPid, 'SIGHUP');
  await pause(SETTLE_MS);
  return async () => {
    fs.writeFileSync(configPath, original);
    process.kill(nginxPid, 'SIGHUP');
    await pause(SETTLE_MS);
    const timing = parseNginxTiming(fs.readFileSync(logPath, 'utf8'));
    fs.rmSync(logPath, { force: true });
    return timing;
  };
}

/**
 * Each line: $request_time|$upstream_response_time|$status, in seconds; several upstream times (", ") when nginx
 * tried again.
 */
export function parseNginxTiming(text: string): NginxTiming {
  const timing: NginxTiming = {
    total: new LatencyHistogram(),
    upstream: new LatencyHistogram(),
    nginxOwn: new LatencyHistogram(),
  };
  for (const line of text.split('\n')) {
    const [total, upstream] = line.trim().split('|');
    if (total === undefined || upstream === undefined || upstream.trim() === '-' || total === '') continue;
    const totalMs = Number(total) * 1000;
    const upstreamMs = upstream.split(',').reduce((sum, each) => sum + Number(each) * 1000, 0);
    if (!Number.isFinite(totalMs) || !Number.isFinite(upstreamMs))
      throw new Error(`an nginx timing line the bench cannot read: ${line}`);
    timing.total.record(totalMs);
    timing.upstream.record(upstreamMs);
    timing.nginxOwn.record(Math.max(0, totalMs - upstreamMs));
  }
  return timing;
}

export interface PostgresTiming {
  /**
   * Each statement's phases by phase and the instances' statement name ('execute registrar_transacao', 'bind
   * extratos', ...).
   */
  executeByStatement: Map<string, LatencyHistogram>;
  wal: { writes: number; writeMs: number; fsyncs: number; fsyncMs: number } | undefined;
  /** Checkpoints, autovacuum runs, lock waits and other notable lines the server logged during the run. */
  events: string[];
}

// log_min_duration_statement is on the server's command line (the launcher's
// slow-statement bound), which ALTER SYSTEM cannot override; its sampling
// twin, at a rate of 1, logs every statement just the same.
const DIAGNOSTIC_SETTINGS = [
  'log_min_duration_sample = 0',
  'log_statement_sample_rate = 1',
  'track_wal_io_timing = on',
  'track_io_timing = on',
];
const DURATION = /duration: ([\d.]+) ms\s+(parse|bind|execute) ([^:]+):/;
const NOTABLE = /checkpoint|automatic (vacuum|analyze)|still waiting|deadlock|could not|terminat/i;

async function walCounters(client: pg.Client): Promise<PostgresTiming['wal']> {
  // PostgreSQL 18 counts the WAL's I/O in pg_stat_io; before it, pg_stat_wal.
  const io = await client
    .query(
      'SELECT sum(writes)::float8 AS writes, sum(write_time)::float8 AS write_ms, ' +
        "sum(fsyncs)::float8 AS fsyncs, sum(fsync_time)::float8 AS fsync_ms FROM pg_stat_io WHERE object = 'wal'",
    )
    .catch(() => undefined);
  const row = io?.rows[0] as
    { writes: number | null; write_ms: number | null; fsyncs: number | null; fsync_ms: number | null } | undefined;
  if (row !== undefined && row.fsyncs !== null)
    return { writes: row.writes ?? 0, writeMs: row.write_ms ?? 0, fsyncs: row.fsyncs, fsyncMs: row.fsync_ms ?? 0 };
  const wal = await client
    .query(
      'SELECT wal_write::float8 AS writes, wal_write_time::float8 AS write_ms, wal_sync::float8 AS fsyncs, ' +
        'wal_sync_time::float8 AS fsync_ms FROM pg_stat_wal',
    )
    .catch(() => undefined);
  const old = wal?.rows[0] as { writes: number; write_ms: number; fsyncs: number; fsync_ms: number } | undefined;
  return old === undefined
    ? undefined
    : { writes: old.writes, writeMs: old.write_ms, fsyncs: old.fsyncs, fsyncMs: old.fsync_ms };
}

function newestLog(logDirectory: string): string | undefined {
  if (!fs.existsSync(logDirectory)) return undefined;
  const files = fs.readdirSync(logDirectory).map((name) => path.join(logDirectory, name));
  return files.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}

/** Turns PostgreSQL's statement timing on (as its superuser); the returned function reads it and turns it off. */
export async function postgresTiming(state: StackState): Promise<() => Promise<PostgresTiming | undefined>> {
  if (state.postgres === null) return async () => undefined;
  const client = new pg.Client({ connectionString: state.databaseUrl, application_name: 'crebito-bench-breakdown' });
  await client.connect();
  const logDirectory = path.join(state.postgres.dataDirectory, 'log');
  try {
    for (const setting of DIAGNOSTIC_SETTINGS) await client.query(`ALTER SYSTEM SET ${setting}`);
    await client.query('SELECT pg_reload_conf()');
  } catch (error) {
    await client.end();
    console.log(
      `breakdown: PostgreSQL's timing not measured (${error instanceof Error ? error.message : String(error)})`,
    );
    return async () => undefined;
  }
  await pause(SETTLE_MS);
  const logFile = newestLog(logDirectory);
  const offset = logFile === undefined ? 0 : fs.statSync(logFile).size;
  const walBefore = await walCounters(client);
  return async () => {
    const walAfter = await walCounters(client);
    for (const setting of DIAGNOSTIC_SETTINGS) await client.query(`ALTER SYSTEM RESET ${setting.split(' ')[0]}`);
    await client.query('SELECT pg_reload_conf()');
    await client.end();
    const text = logFile === undefined ? '' : readFrom(logFile, offset);
    const wal =
      walBefore === undefined || walAfter === undefined
        ? undefined
        : {
            writes: walAfter.writes - walBefore.writes,
            writeMs: walAfter.writeMs - walBefore.writeMs,
            fsyncs: walAfter.fsyncs - walBefore.fsyncs,
            fsyncMs: walAfter.fsyncMs - walBefore.fsyncMs,
          };
    return { ...parsePostgresLog(text), wal };
  };
}

function readFrom(file: string, offset: number): string {
  const size = fs.statSync(file).size;
  if (size <= offset) return '';
  const buffer = Buffer.alloc(size - offset);
  const descriptor = fs.openSync(file, 'r');
  try {
    fs.readSync(descriptor, buffer, 0, buffer.length, offset);
  } finally {
    fs.closeSync(descriptor);
  }
  return buffer.toString('utf8');
}

/**
 * Marks PostgreSQL's log now; the returned function gives its notable lines since (checkpoints, autovacuum, lock
 * waits).
 */
export function markPostgresLog(state: StackState): () => string[] {
  if (state.postgres === null) return () => [];
  const logFile = newestLog(path.join(state.postgres.dataDirectory, 'log'));
  if (logFile === undefined) return () => [];
  const offset = fs.statSync(logFile).size;
  return () => parsePostgresLog(readFrom(logFile, offset)).events;
}

export function parsePostgresLog(text: string): Omit<PostgresTiming, 'wal'> {
  const executeByStatement = new Map<string, LatencyHistogram>();
  const events: string[] = [];
  for (const line of text.split('\n')) {
    const duration = DURATION.exec(line);
    if (duration !== null) {
      // bind plans (a prepared statement's first runs) and takes the parameters; execute runs the function.
      const name = `${duration[2]} ${duration[3]!.trim()}`;
      let histogram = executeByStatement.get(name);
      if (histogram === undefined) executeByStatement.set(name, (histogram = new LatencyHistogram()));
      histogram.record(Number(duration[1]));
    } else if (NOTABLE.test(line) && events.length < 20) {
      events.push(line.trim().slice(0, 200));
    }
  }
  return { executeByStatement, events };
}
