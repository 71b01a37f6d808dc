// The steps the restore drills share (backup-drill.ts, and backup-drill-ha.ts
// for what only the HA profile has): the load, closing the archive up to
// now, a restored directory and crebito started on it, the drill's log.

import fs from 'node:fs';
import pg from 'pg';
import type { planBackups } from '../../src/stack/backup/pgbackrest.js';
import type { RestoreResult } from '../../src/stack/backup/restore.js';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { processTree } from '../../src/stack/processes.js';
import type { StackState } from '../../src/stack/state.js';
import { freePort, makeDataDirectory, startStack } from '../harness/stack.js';
import { readDatabaseState, type Books } from './database.js';
import type { History } from './history.js';
import { runWorkload } from './workload.js';

export const CLIENT_IDS = [1, 2, 3, 4, 5];

const ARCHIVE_TIMEOUT_MS = 120_000;
export const RECOVERY_TIMEOUT_MS = 3_600_000;

export interface DrillOptions {
  durationMs: number;
  concurrency: number;
  out: string;
}

export interface Clock {
  started: number;
  /** Date.now() when started: turns a commit's wall time into the history's clock. */
  startedWallMs: number;
  elapsed: () => number;
  nextDescricao: () => string;
  tag: string;
}

export const say = (line: string) => console.log(`[drill ${new Date().toISOString()}] ${line}`);

export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/**
 * Closes the WAL segment being written and waits until the archive has it: what a restore to an earlier instant needs.
 */
export async function archiveUpToNow(adminUrl: string, timeoutMs = ARCHIVE_TIMEOUT_MS): Promise<void> {
  await withClient(adminUrl, async (client) => {
    const { segment } = (await client.query<{ segment: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS segment'))
      .rows[0]!;
    await waitForOrThrow(
      `WAL segment ${segment} archived`,
      async () => {
        const { last } = (
          await client.query<{ last: string | null }>('SELECT last_archived_wal AS last FROM pg_stat_archiver')
        ).rows[0]!;
        return last !== null && last >= segment;
      },
      { timeoutMs, intervalMs: 200 },
    );
  });
}

export async function loadUntil(
  baseUrl: string,
  books: Books,
  clock: Clock,
  history: History,
  deadlineMs: number,
  concurrency: number,
): Promise<void> {
  await runWorkload({
    baseUrl,
    clientIds: CLIENT_IDS,
    limits: books.limits,
    concurrency,
    deadline: clock.started + deadlineMs,
    elapsed: clock.elapsed,
    nextDescricao: clock.nextDescricao,
    history,
  });
}

/** crebito on a restored directory: a single node (with CREBITO_HA=on in the drill's environment too). */
export async function startRestored(restored: RestoreResult) {
  return startStack({
    port: await freePort(),
    dataDirectory: restored.dataDirectory,
    environment: { CREBITO_HA: 'off' },
  });
}

export function restoreInto(): string {
  const directory = makeDataDirectory();
  fs.rmSync(directory, { recursive: true });
  return directory;
}

export interface DrillContext {
  plan: ReturnType<typeof planBackups>;
  key: string;
  initial: Books;
  clock: Clock;
  history: History;
  baseUrl: string;
  options: DrillOptions;
}

/** Serves a restored directory just long enough to read its books; with the acknowledged transactions it lacks. */
export async function readRestored(restored: RestoreResult, context: DrillContext) {
  const stack = await startRestored(restored);
  let database;
  try {
    database = await readDatabaseState(stack.state().databaseUrl, CLIENT_IDS, context.initial);
  } finally {
    await stack.dispose();
  }
  const stored = new Set(database.transactions.map((row) => row.descricao));
  const acknowledged = context.history.operations.filter(
    (operation) => operation.kind === 'transacao' && operation.outcome === 'applied',
  );
  const lost = acknowledged.filter((operation) => operation.kind === 'transacao' && !stored.has(operation.descricao));
  return { database, acknowledged, lost };
}

/** SIGKILL to each pid, as a power cut would; one already gone is skipped. */
export function killProcesses(pids: readonly (number | null | undefined)[]): void {
  for (const pid of pids) {
    if (pid === undefined || pid === null) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * SIGKILL to the stack's own processes (the launcher, nginx, the instances), then to the others given. nginx's workers
 * go with their master, found before it dies: a worker left alive holds the port and the launcher's output open, and
 * the drill never ends.
 */
export function killStack(state: StackState, others: readonly (number | null | undefined)[] = []): void {
  const nginx = state.nginx?.pid === undefined ? [] : processTree(state.nginx.pid);
  killProcesses([state.launcherPid, ...nginx, ...state.instances.map((instance) => instance.pid), ...others]);
}
