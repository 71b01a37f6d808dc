// The restore drills (`npm run check:ledger -- --start --drill pitr|lost-node`):
// a backup is only as good as a restore that was rehearsed and judged.
//
// pitr: under load, mark an instant T; after it, the owner's mistake (the
// append-only trigger lifted, a client's rows deleted, another's balance
// rewritten); restore to T into a new directory, start crebito on it, and
// judge it with the checker's invariants against the history cut at T:
// every transaction acknowledged before T present, none begun after T,
// those in flight at T either way, the books exact.
//
// lost-node: under load, the whole node killed (launcher, instances, nginx,
// PostgreSQL, SIGKILL) and its database directory deleted; restore to the
// end of the archive, start crebito on it, count the acknowledged
// transactions that are missing (the recovery point) and judge the rest.
//
// With CREBITO_HA=on the same two run against the HA stack (lost-node then
// kills the whole cluster and deletes every node's data directory), and a
// third, failover, kills the primary under load (backup-drill-ha.ts).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readLauncherConfig } from '../../src/stack/config.js';
import { embeddedPostgresLocation } from '../../src/stack/children.js';
import { resolveRunAsUser, socketDirectoryFor } from '../../src/stack/embedded-postgres.js';
import { planBackups, prepareBackups } from '../../src/stack/backup/pgbackrest.js';
import { restore, type RestoreResult } from '../../src/stack/backup/restore.js';
import { createLog } from '../../src/shared/log.js';
import { waitForOrThrow } from '../../src/shared/wait.js';
import type { Target } from '../harness/target.js';
import { readBooks, readDatabaseState, type Books } from './database.js';
import { History } from './history.js';
import { judge, type Operation, type Verdict } from './invariants.js';
import { failover, isHa, killWholeCluster } from './backup-drill-ha.js';
import {
  archiveUpToNow,
  CLIENT_IDS,
  killStack,
  loadUntil,
  readRestored,
  RECOVERY_TIMEOUT_MS,
  restoreInto,
  say,
  startRestored,
  withClient,
  type Clock,
  type DrillContext,
  type DrillOptions,
} from './backup-drill-steps.js';
import { planHaBackups } from '../../src/stack/backup/ha.js';
import { systemUser } from '../../src/stack/ha/cluster.js';

export const DRILLS = ['pitr', 'lost-node', 'failover'] as const;
export type Drill = (typeof DRILLS)[number];

const FIRST_BACKUP_TIMEOUT_MS = 120_000;
/** pitr: T at this share of the run; lost-node: the kill at this share. */
const MARK_AT_FRACTION = 0.6;
const KILL_AT_FRACTION = 0.8;
/** What a WAL segment closed by archive_timeout may take to reach the repository (lz4, AES, one local copy). */
const ARCHIVE_PUSH_MARGIN_S = 15;

function startClock(): Clock {
  const tag = Math.random().toString(36).slice(2, 5).padEnd(3, '0');
  let serial = 0;
  const started = performance.now();
  return {
    tag,
    started,
    startedWallMs: Date.now(),
    elapsed: () => performance.now() - started,
    nextDescricao: () => `${tag}${(serial++).toString(36).padStart(7, '0')}`,
  };
}

function backupPlanFor(dataDirectory: string): ReturnType<typeof planBackups> {
  const config = readLauncherConfig({ ...process.env, CREBITO_DATA_DIR: dataDirectory });
  if (config.ha === 'on') return planHaBackups(config, systemUser());
  const location = embeddedPostgresLocation(config, path.join(config.dataDirectory, 'run'));
  const runAs = resolveRunAsUser(createLog({ program: 'stack', name: 'drill', level: 'warn' }));
  return planBackups(
    config,
    config.dataDirectory,
    { ...location, socketDirectory: socketDirectoryFor(location) },
    runAs,
  );
}

/** The launcher takes the first full backup on its own; a drill needs it finished. */
async function waitForFirstBackup(dataDirectory: string): Promise<void> {
  const status = path.join(dataDirectory, 'run', 'backup-status.json');
  await waitForOrThrow(
    'the first full backup',
    () => {
      try {
        return (JSON.parse(fs.readFileSync(status, 'utf8')) as { lastBackup: unknown }).lastBackup !== null;
      } catch {
        return false;
      }
    },
    { timeoutMs: FIRST_BACKUP_TIMEOUT_MS, intervalMs: 500 },
  );
}

/** The owner's mistake: the append-only trigger lifted, a client's rows deleted, another's balance rewritten. */
async function makeMistake(adminUrl: string): Promise<string> {
  return withClient(adminUrl, async (client) => {
    await client.query('BEGIN');
    await client.query('ALTER TABLE transacoes DISABLE TRIGGER transacoes_somente_insercao');
    const deleted = await client.query('DELETE FROM transacoes WHERE cliente_id = 1');
    await client.query('ALTER TABLE transacoes ENABLE TRIGGER transacoes_somente_insercao');
    await client.query('UPDATE clientes SET saldo = saldo + 1000000 WHERE id = 2');
    await client.query('COMMIT');
    return `deleted ${deleted.rowCount} rows of client 1 with the append-only trigger lifted, added 1,000,000 to client 2's balance`;
  });
}

/**
 * The history as the restored ledger must explain it: operations begun
 * after the cut never happened; transactions in flight across it may or
 * may not have (unknown); statements in flight across it are dropped.
 */
export function historyCutAt(operations: Operation[], cutMs: number): Operation[] {
  const cut: Operation[] = [];
  for (const operation of operations) {
    if (operation.startMs > cutMs) continue;
    if (operation.endMs <= cutMs) cut.push(operation);
    else if (operation.kind === 'transacao')
      cut.push({
        ...operation,
        status: 0,
        outcome: 'unknown',
        saldo: undefined,
        limite: undefined,
        attempts: undefined,
      });
  }
  return cut;
}

/** Starts crebito on the restored directory and judges its books against the history. */
export async function judgeRestored(
  restored: RestoreResult,
  history: Operation[],
  initial: Books,
  tag: string,
): Promise<Verdict> {
  const stack = await startRestored(restored);
  try {
    const database = await readDatabaseState(stack.state().databaseUrl, CLIENT_IDS, initial);
    return judge(history, database, tag);
  } finally {
    await stack.dispose();
  }
}

export async function runDrill(target: Target, drill: Drill, options: DrillOptions): Promise<boolean> {
  const state = target.state();
  const plan = backupPlanFor(target.dataDirectory);
  const key = prepareBackups(plan);
  await waitForFirstBackup(target.dataDirectory);
  const initial = await readBooks(state.databaseUrl, CLIENT_IDS);
  const loadAverage = os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
  const clock = startClock();
  const history = new History(250_000);
  const baseUrl = `http://127.0.0.1:${state.port}`;
  say(
    `${drill}: ${options.concurrency} clients for ${options.durationMs / 1000} s against ${baseUrl}, run tag ${clock.tag}, load average ${loadAverage}`,
  );
  const context = { plan, key, initial, clock, history, baseUrl, options };
  const result =
    drill === 'pitr'
      ? await pitr(target, context)
      : drill === 'lost-node'
        ? await lostNode(target, context)
        : await failover(target, context);
  const summary = {
    drill,
    profile: isHa(target) ? 'ha' : 'single-node',
    date: new Date().toISOString(),
    loadAverageBefore: loadAverage,
    loadAverageAfter: os
      .loadavg()
      .map((value) => value.toFixed(2))
      .join(', '),
    durationMs: options.durationMs,
    concurrency: options.concurrency,
    ...result,
  };
  fs.mkdirSync(options.out, { recursive: true });
  const file = path.join(options.out, `backup-drill-${drill}${isHa(target) ? '-ha' : ''}.json`);
  fs.writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  say(`valid: ${result.valid}; wrote ${file}`);
  return result.valid;
}

async function pitr(target: Target, context: DrillContext): Promise<{ valid: boolean } & Record<string, unknown>> {
  const { clock, options } = context;
  const markMs = options.durationMs * MARK_AT_FRACTION;
  let instant: Date | undefined;
  const marker = (async () => {
    await sleep(markMs);
    instant = new Date();
    say(`T = ${instant.toISOString()} (${(clock.elapsed() / 1000).toFixed(1)} s into the load)`);
  })();
  await Promise.all([
    loadUntil(context.baseUrl, context.initial, clock, context.history, options.durationMs, options.concurrency),
    marker,
  ]);
  const cutMs = markMs;
  const mistake = await makeMistake(target.state().databaseUrl);
  say(`the mistake, after T: ${mistake}`);
  const broken = judge(
    context.history.operations,
    await readDatabaseState(target.state().databaseUrl, CLIENT_IDS, context.initial),
    clock.tag,
  );
  say(`the damaged ledger, judged: valid ${broken.valid} (must be false: the mistake is real)`);
  await archiveUpToNow(target.state().databaseUrl);
  const restored = await restore(context.plan, context.key, {
    to: instant!,
    into: restoreInto(),
    port: 54_330,
    recoveryTimeoutMs: RECOVERY_TIMEOUT_MS,
  });
  say(`restored to T: ${JSON.stringify(restored)}`);
  const cut = historyCutAt(context.history.operations, cutMs);
  const verdict = await judgeRestored(restored, cut, context.initial, clock.tag);
  say(
    `restored ledger at T: valid ${verdict.valid}; ${verdict.transactions.acknowledged} acknowledged ` +
      `before T, all present; ${verdict.transactions.unknown} in flight at T, ` +
      `${verdict.transactions.unknownApplied} of them applied; violations ` +
      `${JSON.stringify(verdict.violations)}`,
  );
  fs.rmSync(restored.dataDirectory, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  return {
    valid: verdict.valid && !broken.valid,
    instant: instant!.toISOString(),
    mistake,
    damagedLedgerValid: broken.valid,
    restore: restored,
    verdict,
    operationsAfterT: context.history.operations.length - cut.length,
  };
}

/** SIGKILL to every process of the node, the database last, as a power cut would leave it. */
function killNode(target: Target): void {
  const state = target.state();
  killStack(state, [state.postgres?.pid]);
}

async function lostNode(target: Target, context: DrillContext): Promise<{ valid: boolean } & Record<string, unknown>> {
  const { clock, options } = context;
  const killMs = options.durationMs * KILL_AT_FRACTION;
  const boundS = context.plan.archiveTimeoutS + ARCHIVE_PUSH_MARGIN_S;
  // A kill before the first archive_timeout has closed a segment can only
  // show everything lost, which the bound allows: such a drill proves nothing.
  if (killMs / 1000 <= boundS) {
    throw new Error(
      `lost-node kills at ${KILL_AT_FRACTION * 100}% of the run: --duration must exceed ` +
        `${Math.ceil(boundS / KILL_AT_FRACTION)} s (archive_timeout ${context.plan.archiveTimeoutS} s + ` +
        `${ARCHIVE_PUSH_MARGIN_S} s for the push) for the archive to be tested`,
    );
  }
  let killedAt: Date | undefined;
  const killer = (async () => {
    await sleep(killMs);
    if (isHa(target)) {
      killedAt = killWholeCluster(target);
      return;
    }
    killNode(target);
    killedAt = new Date();
    fs.rmSync(target.state().postgres!.dataDirectory, { recursive: true, force: true });
    say(
      `node killed (SIGKILL to launcher, nginx, instances, PostgreSQL) and its database directory deleted at ${killedAt.toISOString()}`,
    );
  })();
  await Promise.all([
    loadUntil(context.baseUrl, context.initial, clock, context.history, options.durationMs, options.concurrency),
    killer,
  ]);
  const restored = await restore(context.plan, context.key, {
    to: 'latest',
    into: restoreInto(),
    port: 54_330,
    recoveryTimeoutMs: RECOVERY_TIMEOUT_MS,
  });
  say(`restored to the end of the archive: ${JSON.stringify(restored)}`);
  const { database, acknowledged, lost } = await readRestored(restored, context);
  // The recovery point: the last commit replayed (else the newest row
  // restored, else the run's start). Judged like a restore to that instant:
  // everything acknowledged before it present, nothing begun after it.
  const runRows = database.transactions
    .filter((row) => row.id > database.initialLastId)
    .map((row) => Date.parse(row.realizada_em));
  const pointWallMs =
    restored.lastReplayedAt !== null
      ? Date.parse(restored.lastReplayedAt)
      : runRows.length > 0
        ? Math.max(...runRows)
        : clock.startedWallMs;
  const verdict = judge(
    historyCutAt(context.history.operations, pointWallMs - clock.startedWallMs),
    database,
    clock.tag,
  );
  const killedMs = killMs;
  const lostWindowS = lost.length === 0 ? 0 : (killedMs - Math.min(...lost.map((operation) => operation.endMs))) / 1000;
  const lastReplayedBeforeKillS =
    restored.lastReplayedAt === null ? null : (killedAt!.getTime() - Date.parse(restored.lastReplayedAt)) / 1000;
  // The recovery point promised: what was acknowledged more than the bound
  // before the kill must have been archived, else the drill fails.
  const withinBound = lostWindowS <= boundS;
  say(
    `lost: ${lost.length} of ${acknowledged.length} acknowledged transactions, the oldest acknowledged ` +
      `${lostWindowS.toFixed(1)} s before the kill (bound ${boundS} s: ${withinBound ? 'within' : 'EXCEEDED'}); ` +
      `last transaction recovered ${lastReplayedBeforeKillS?.toFixed(1) ?? '?'} s before the kill; the rest ` +
      `judged valid: ${verdict.valid}`,
  );
  fs.rmSync(restored.dataDirectory, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  return {
    valid: verdict.valid && withinBound,
    recoveryPointBoundS: boundS,
    withinBound,
    killedAt: killedAt!.toISOString(),
    restore: restored,
    acknowledged: acknowledged.length,
    lost: lost.length,
    lostWindowS,
    lastReplayedBeforeKillS,
    archiveTimeoutS: context.plan.archiveTimeoutS,
    verdict,
  };
}
