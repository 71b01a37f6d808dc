// Measures the recovery time of the embedded database's backups, for
// docs/backups.md: how long a restore takes per GB of backup (the copy)
// and per million transactions of WAL to replay after it (the replay).
//
//   node dist/tools/backup/recovery-time.js [--transactions 1000000] [--out results/backups]
//
// A stack of its own (backups on) is filled with --transactions calls of
// registrar_transacao, 64 to a commit as the instances' batches share them;
// a full backup is taken; restore A (to the end of the archive) then has
// almost nothing to replay: its time is the copy. The same number of
// transactions again, after the backup; restore B replays all of them.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createLog } from '../../src/shared/log.js';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { embeddedPostgresLocation } from '../../src/stack/children.js';
import { readLauncherConfig } from '../../src/stack/config.js';
import { resolveRunAsUser, socketDirectoryFor } from '../../src/stack/embedded-postgres.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { planBackups, prepareBackups, takeBackup } from '../../src/stack/backup/pgbackrest.js';
import { restore, type RestoreResult } from '../../src/stack/backup/restore.js';
import { numberOption } from '../harness/target.js';
import { freePort, makeDataDirectory, startStack } from '../harness/stack.js';

const CALLS_PER_COMMIT = 64;
const COMMITS_PER_STATEMENT = 1;
const FIRST_BACKUP_TIMEOUT_MS = 300_000;
const ARCHIVE_TIMEOUT_MS = 600_000;
const RECOVERY_TIMEOUT_MS = 6 * 3_600_000;
const GIB = 1024 ** 3;

const loadAverage = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
const say = (line: string) => console.log(`[recovery-time ${new Date().toISOString()}] ${line}`);

/** `count` transactions, CALLS_PER_COMMIT to a commit, spread over the five clients; returns the WAL bytes written. */
async function fill(client: pg.Client, count: number): Promise<number> {
  const before = (await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn() AS lsn')).rows[0]!.lsn;
  for (let done = 0; done < count; done += CALLS_PER_COMMIT * COMMITS_PER_STATEMENT) {
    const calls = Math.min(CALLS_PER_COMMIT, count - done);
    await client.query(
      `SELECT count(*) FROM generate_series(1, $1) AS g,
         LATERAL registrar_transacao(1 + g % 5, 1 + g % 1000, CASE WHEN g % 3 = 0 THEN 'd' ELSE 'c' END, 'rt' || (g % 100)) AS r`,
      [calls],
    );
  }
  return Number(
    (await client.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes', [before]))
      .rows[0]!.bytes,
  );
}

async function archiveUpToNow(client: pg.Client): Promise<void> {
  const { segment } = (await client.query<{ segment: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS segment'))
    .rows[0]!;
  await waitForOrThrow(
    `segment ${segment} archived`,
    async () => {
      const { last } = (
        await client.query<{ last: string | null }>('SELECT last_archived_wal AS last FROM pg_stat_archiver')
      ).rows[0]!;
      return last !== null && last >= segment;
    },
    { timeoutMs: ARCHIVE_TIMEOUT_MS, intervalMs: 500 },
  );
}

function freshDirectory(): string {
  const directory = makeDataDirectory();
  fs.rmSync(directory, { recursive: true });
  return directory;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      transactions: { type: 'string', default: '1000000' },
      out: { type: 'string', default: path.join(PROJECT_ROOT, 'results', 'backups') },
    },
  });
  const transactions = numberOption(values.transactions, 'transactions', { min: 1000, max: 100_000_000, whole: true });
  const uptimeBefore = loadAverage();
  const dataDirectory = makeDataDirectory();
  const stack = await startStack({
    port: await freePort(),
    dataDirectory,
    environment: { CREBITO_BACKUP_INTERVAL_S: '2592000' },
  });
  const config = readLauncherConfig({ ...process.env, CREBITO_DATA_DIR: dataDirectory });
  const location = embeddedPostgresLocation(config, path.join(dataDirectory, 'run'));
  const plan = planBackups(
    config,
    dataDirectory,
    { ...location, socketDirectory: socketDirectoryFor(location) },
    resolveRunAsUser(createLog({ program: 'stack', name: 'rt', level: 'warn' })),
  );
  const key = prepareBackups(plan);
  const client = new pg.Client({ connectionString: stack.state().databaseUrl });
  await client.connect();
  const restored: string[] = [];
  try {
    await waitForOrThrow(
      'the first full backup',
      () => fs.existsSync(path.join(plan.repository, 'backup', 'crebito', 'latest')),
      { timeoutMs: FIRST_BACKUP_TIMEOUT_MS, intervalMs: 500 },
    );
    let startedMs = performance.now();
    const walBeforeBackup = await fill(client, transactions);
    say(
      `${transactions} transactions in ${((performance.now() - startedMs) / 1000).toFixed(1)} s, ${(walBeforeBackup / 2 ** 20).toFixed(0)} MiB of WAL`,
    );
    startedMs = performance.now();
    await takeBackup(plan, key, 'full');
    const backupMs = performance.now() - startedMs;
    await archiveUpToNow(client);
    const a = await restore(plan, key, {
      to: 'latest',
      into: freshDirectory(),
      port: 54_331,
      recoveryTimeoutMs: RECOVERY_TIMEOUT_MS,
    });
    restored.push(a.dataDirectory);
    say(`restore A (copy, little to replay): ${JSON.stringify(a)}`);
    const walAfterBackup = await fill(client, transactions);
    await archiveUpToNow(client);
    const b = await restore(plan, key, {
      to: 'latest',
      into: freshDirectory(),
      port: 54_331,
      recoveryTimeoutMs: RECOVERY_TIMEOUT_MS,
    });
    restored.push(b.dataDirectory);
    say(`restore B (${transactions} transactions to replay): ${JSON.stringify(b)}`);
    writeResult(values.out, { transactions, walBeforeBackup, walAfterBackup, backupMs, a, b, uptimeBefore });
  } finally {
    await client.end();
    await stack.dispose();
    for (const directory of restored)
      fs.rmSync(directory, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

function writeResult(
  out: string,
  run: {
    transactions: number;
    walBeforeBackup: number;
    walAfterBackup: number;
    backupMs: number;
    a: RestoreResult;
    b: RestoreResult;
    uptimeBefore: string;
  },
): void {
  const copySecondsPerGib = run.a.copyMs / 1000 / (run.a.sizeBytes / GIB);
  const replayExtraMs = run.b.replayMs - run.a.replayMs;
  const replaySecondsPerMillion = replayExtraMs / 1000 / (run.transactions / 1_000_000);
  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / GIB).toFixed(0)} GiB`,
    loadAverageBefore: run.uptimeBefore,
    loadAverageAfter: loadAverage(),
    transactions: run.transactions,
    callsPerCommit: CALLS_PER_COMMIT,
    walBytesPerTransaction: Math.round(run.walAfterBackup / run.transactions),
    fullBackupMs: Math.round(run.backupMs),
    restoreA: run.a,
    restoreB: run.b,
    copySecondsPerGib: Number(copySecondsPerGib.toFixed(1)),
    replaySecondsPerMillionTransactions: Number(replaySecondsPerMillion.toFixed(1)),
    totalSecondsA: (run.a.copyMs + run.a.replayMs) / 1000,
    totalSecondsB: (run.b.copyMs + run.b.replayMs) / 1000,
  };
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, 'recovery-time.json');
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  say(
    `copy ${result.copySecondsPerGib} s per GiB restored, replay ${result.replaySecondsPerMillionTransactions} s per million transactions; wrote ${file}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
