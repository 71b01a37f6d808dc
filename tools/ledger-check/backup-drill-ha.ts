// The restore drills' HA part (backup-drill.ts runs them): what differs when
// the stack runs CREBITO_HA=on, and the drill only HA has.
//
// lost-node, HA: every node lost at once (what replication cannot survive):
// the launcher, nginx, the instances and every process in the cluster's
// namespaces (etcd, HAProxy, Patroni, PostgreSQL, pgBackRest) get SIGKILL,
// and every node's data directory is deleted.
//
// failover: under load, SIGKILL to every process of the primary node; the
// launcher restarts its Patroni and another node leads on a new timeline.
// After the load, a backup (from a standby when one streams) and the archive
// closed up to now; then two restores to the end of the archive: from the
// backup taken before the failover (its replay crosses the failover: the old
// primary's WAL, the segments the new one pushed for it, and the new
// timeline), and from the newest backup. Each is started as a single node
// and judged against the whole history: 0 acknowledged transactions lost.

import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { backupSourceArgs } from '../../src/stack/backup/ha.js';
import { takeBackup } from '../../src/stack/backup/pgbackrest.js';
import { restore } from '../../src/stack/backup/restore.js';
import { planNetwork, processesInNetwork, removeNetwork, setLinkUp } from '../../src/stack/ha/network.js';
import { waitForOrThrow } from '../../src/shared/wait.js';
import type { Target } from '../harness/target.js';
import {
  archiveUpToNow,
  killProcesses,
  killStack,
  loadUntil,
  RECOVERY_TIMEOUT_MS,
  readRestored,
  restoreInto,
  say,
  type DrillContext,
} from './backup-drill-steps.js';
import { judge } from './invariants.js';

/** The failover at this share of the run: the rest of the load runs against the new primary. */
const FAILOVER_AT_FRACTION = 0.4;
const PROMOTION_TIMEOUT_MS = 60_000;
// As long as the checker's kill-primary-node keeps a killed primary's host unreachable.
const HOST_DOWN_MS = 15_000;

export const isHa = (target: Target) => target.state().databaseNodes !== undefined;

/** Every node lost at once: all of the stack's processes killed, every node's data directory deleted. */
export function killWholeCluster(target: Target): Date {
  const state = target.state();
  killStack(state);
  const network = planNetwork(target.dataDirectory);
  killProcesses(processesInNetwork(network));
  for (const node of state.databaseNodes ?? []) killProcesses(node.pids);
  const killedAt = new Date();
  for (const node of state.databaseNodes ?? []) fs.rmSync(node.dataDirectory, { recursive: true, force: true });
  // The launcher that would have removed them is dead.
  removeNetwork(network);
  say(
    `whole cluster killed (SIGKILL to the launcher, nginx, instances and every process in the ` +
      `namespaces) and every node's data directory deleted at ${killedAt.toISOString()}`,
  );
  return killedAt;
}

const primaryName = (target: Target) => target.state().databaseNodes?.find((node) => node.role === 'primary')?.name;

/**
 * The primary's processes killed and its host cut off for a while (as the
 * checker's kill-primary-node fault does): a Patroni restarted at once could
 * otherwise take its leader key back before it expired, and no failover
 * would happen. Resolves once another node leads, with the link back up.
 */
async function killPrimary(target: Target): Promise<{ node: string; at: string; newPrimary: string }> {
  const victim = target.state().databaseNodes?.find((node) => node.role === 'primary');
  if (victim === undefined) throw new Error('no primary to kill');
  const link = { name: victim.name, hostLink: victim.hostLink, address: victim.address };
  setLinkUp(link, { up: false });
  killProcesses(victim.pids);
  const at = new Date().toISOString();
  say(`primary ${victim.name} killed (SIGKILL to every process of the node), its host cut off, at ${at}`);
  try {
    const leadsNow = () => primaryName(target) ?? victim.name;
    await waitForOrThrow('another node to lead', () => leadsNow() !== victim.name, {
      timeoutMs: PROMOTION_TIMEOUT_MS,
      intervalMs: 200,
    });
    const newPrimary = leadsNow();
    await sleep(HOST_DOWN_MS);
    return { node: victim.name, at, newPrimary };
  } finally {
    setLinkUp(link, { up: true });
  }
}

function lastBackupLabel(target: Target): string {
  const status = JSON.parse(fs.readFileSync(path.join(target.dataDirectory, 'run', 'backup-status.json'), 'utf8')) as {
    lastBackup: { label: string } | null;
  };
  if (status.lastBackup === null) throw new Error('no backup yet');
  return status.lastBackup.label;
}

async function restoreAndJudge(target: Target, context: DrillContext, set: string | undefined) {
  const restored = await restore(context.plan, context.key, {
    to: 'latest',
    into: restoreInto(),
    port: 54_330,
    recoveryTimeoutMs: RECOVERY_TIMEOUT_MS,
    set,
  });
  say(`restored to the end of the archive from ${set ?? 'the newest backup'}: ${JSON.stringify(restored)}`);
  const { database, acknowledged, lost } = await readRestored(restored, context);
  const verdict = judge(context.history.operations, database, context.clock.tag);
  say(
    `from ${set ?? 'the newest backup'}: ${lost.length} of ${acknowledged.length} acknowledged lost; ` +
      `books judged valid: ${verdict.valid}; violations ${JSON.stringify(verdict.violations)}`,
  );
  return { restore: restored, acknowledged: acknowledged.length, lost: lost.length, verdict };
}

export async function failover(
  target: Target,
  context: DrillContext,
): Promise<{ valid: boolean } & Record<string, unknown>> {
  if (!isHa(target)) throw new Error('--drill failover needs a stack started with CREBITO_HA=on');
  const { clock, options } = context;
  const beforeFailover = lastBackupLabel(target);
  const killMs = options.durationMs * FAILOVER_AT_FRACTION;
  let killed: Awaited<ReturnType<typeof killPrimary>> | undefined;
  const killer = (async () => {
    await sleep(killMs);
    killed = await killPrimary(target);
    say(`${killed.newPrimary} leads; ${killed.node}'s host reachable again`);
  })();
  await Promise.all([
    loadUntil(context.baseUrl, context.initial, clock, context.history, options.durationMs, options.concurrency),
    killer,
  ]);
  const primary = primaryName(target);
  // The launcher's word that the new primary pushed the old timeline's segments (backup/ha.ts).
  const gapFilled = target
    .outputTail(5000)
    .split('\n')
    .filter((line) => line.includes('segments of earlier timelines'));
  const source = await backupSourceArgs(context.plan);
  await takeBackup(context.plan, context.key, 'incr', undefined, source);
  say(`after the failover (primary now ${primary}): incremental backup taken with ${source.join(' ')}`);
  await archiveUpToNow(target.state().databaseUrl);
  const acrossFailover = await restoreAndJudge(target, context, beforeFailover);
  const newest = await restoreAndJudge(target, context, undefined);
  for (const result of [acrossFailover, newest])
    fs.rmSync(result.restore.dataDirectory, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  return {
    valid: [acrossFailover, newest].every((result) => result.verdict.valid && result.lost === 0),
    killed,
    newPrimary: primary,
    gapFilled,
    backupAfterFailover: source,
    backupBeforeFailover: beforeFailover,
    acrossFailover,
    newest,
  };
}
