// The faults of the HA profile (CREBITO_HA=on), chosen with --ha-faults and
// injected while the load runs: the primary node killed (every one of its
// processes, SIGKILL), frozen (SIGSTOP of every process, longer than a
// failover takes), cut off from the other nodes and from the instances (its
// veth down), and a standby killed. Each reports when a standby held the
// primary role and when the old node served again as a standby: fenced (it
// never acknowledged a write after another node was promoted, which the
// verdict checks as "acknowledged transactions lost") and rejoined.

import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../src/shared/wait.js';
import type { DatabaseNodeState } from '../../src/stack/ha/cluster.js';
import { nodeProcesses, REST_PORT } from '../../src/stack/ha/patroni.js';
import { setLinkUp } from '../../src/stack/ha/network.js';
import { readStackState } from '../../src/stack/state.js';
import type { FaultContext, FaultRecord } from './faults.js';

// Longer than a failover (ttl 5 s, plus a loop, plus the promotion), so the
// node comes back to find another primary.
const FREEZE_MS = 15_000;
const PARTITION_MS = 15_000;
const HOST_DOWN_MS = 15_000;
const REJOIN_TIMEOUT_MS = 120_000;
const POLL_MS = 100;
const REST_TIMEOUT_MS = 500;

export const HA_FAULTS = {
  'kill-primary-node': {
    describe: `SIGKILL every process of the primary node, its host unreachable for ${HOST_DOWN_MS} ms`,
    inject: killPrimaryNode,
  },
  'freeze-primary-node': {
    describe: `SIGSTOP every process of the primary node for ${FREEZE_MS} ms, then SIGCONT`,
    inject: freezePrimaryNode,
  },
  'partition-primary': {
    describe: `the primary node cut off from the other nodes, etcd and the instances for ${PARTITION_MS} ms`,
    inject: partitionPrimary,
  },
  'kill-standby': {
    describe: 'SIGKILL every process of the synchronous standby (the launcher restarts its Patroni)',
    inject: killSynchronousStandby,
  },
} as const;

export type HaFaultName = keyof typeof HA_FAULTS;

interface Member {
  name: string;
  role: string;
  state: string;
}

/** Patroni's view of the cluster, from the first node that answers. */
async function members(nodes: DatabaseNodeState[]): Promise<Member[]> {
  for (const node of nodes) {
    try {
      const response = await fetch(`http://${node.address}:${REST_PORT}/cluster`, {
        signal: AbortSignal.timeout(REST_TIMEOUT_MS),
      });
      if (response.ok) return ((await response.json()) as { members: Member[] }).members;
    } catch {
      // Frozen, killed or cut off: ask the next node.
    }
  }
  return [];
}

function nodesOf(context: FaultContext): DatabaseNodeState[] {
  const nodes = readStackState(context.dataDirectory).databaseNodes;
  if (nodes === undefined) throw new Error('--ha-faults needs a stack started with CREBITO_HA=on');
  return nodes;
}

async function pickNode(context: FaultContext, role: 'leader' | 'sync_standby'): Promise<DatabaseNodeState> {
  const nodes = nodesOf(context);
  const name = (await members(nodes)).find((member) => member.role === role)?.name;
  const node = nodes.find((candidate) => candidate.name === name);
  if (node === undefined) throw new Error(`no ${role} in the cluster to fault`);
  return node;
}

const serving = (member: Member | undefined) =>
  member !== undefined && (member.state === 'running' || member.state === 'streaming');

/** Whether the leader streams WAL to the named node: rejoined for real, not merely started. */
async function leaderStreamsTo(nodes: DatabaseNodeState[], leader: Member, name: string): Promise<boolean> {
  const address = nodes.find((node) => node.name === leader.name)?.address;
  try {
    const response = await fetch(`http://${address}:${REST_PORT}/patroni`, {
      signal: AbortSignal.timeout(REST_TIMEOUT_MS),
    });
    const status = (await response.json()) as { replication?: { application_name: string; state: string }[] };
    return (status.replication ?? []).some(
      (standby) => standby.application_name === name && standby.state === 'streaming',
    );
  } catch {
    return false;
  }
}

/** Waits for another node to lead and the victim to stream from it as a standby: promotedMs and rejoinedMs from `from`. */
async function watchRecovery(
  context: FaultContext,
  victim: DatabaseNodeState,
  from: number,
  options: { expectPromotion: boolean; killedPatroniPid?: number | null },
): Promise<{ promotedMs: number | null; rejoinedMs: number | null }> {
  let promotedMs: number | null = null;
  const rejoined = await waitFor(
    async () => {
      const nodes = nodesOf(context);
      const leader = (await members(nodes)).find((member) => member.role === 'leader');
      if (leader === undefined || !serving(leader) || (options.expectPromotion && leader.name === victim.name))
        return false;
      promotedMs ??= context.elapsed() - from;
      // A killed node is back only once the launcher has started a new Patroni for it.
      const restarted =
        options.killedPatroniPid === undefined ||
        nodes.find((node) => node.name === victim.name)?.patroniPid !== options.killedPatroniPid;
      return restarted && (await leaderStreamsTo(nodes, leader, victim.name));
    },
    { timeoutMs: REJOIN_TIMEOUT_MS, intervalMs: POLL_MS },
  );
  return { promotedMs, rejoinedMs: rejoined === undefined ? null : context.elapsed() - from };
}

function record(
  name: HaFaultName,
  atMs: number,
  detailOnly: string,
  recovery: { promotedMs: number | null; rejoinedMs: number | null },
): FaultRecord & { promotedMs: number | null; rejoinedMs: number | null } {
  const detail = detailOnly;
  // The database host is a part every request passes through: judged by its recovery alone.
  const window = {
    name,
    startMs: atMs,
    endMs: atMs + (recovery.rejoinedMs ?? 0),
    scope: { kind: 'all' as const },
    graceMs: 0,
  };
  return { name, atMs, detail, recoveryMs: recovery.rejoinedMs, window, ...recovery };
}

function signalNode(node: DatabaseNodeState, signal: NodeJS.Signals): number[] {
  const pids = nodeProcesses(node.patroniPid ?? undefined, node.dataDirectory);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // It exited between the listing and the signal: nothing left to signal.
    }
  }
  return pids;
}

/**
 * A host that dies: every process of the node killed, and the node
 * unreachable (its link down) for as long as a dead host would be. Without
 * the cut, the launcher would start its Patroni again within 0.1 s, while
 * the node still holds the leader key, and the node would recover in place:
 * a crash, not the loss of a host.
 */
async function killPrimaryNode(context: FaultContext) {
  const victim = await pickNode(context, 'leader');
  const atMs = context.elapsed();
  // The wall clock too, to read the fault beside the nodes' own logs.
  const atClock = new Date().toISOString();
  setLinkUp(linkOf(victim), { up: false });
  const pids = signalNode(victim, 'SIGKILL');
  context.log(
    `fault: SIGKILL ${pids.length} processes of primary ${victim.name}, its host unreachable for ${HOST_DOWN_MS} ms`,
  );
  const recovery = watchRecovery(context, victim, atMs, { expectPromotion: true, killedPatroniPid: victim.patroniPid });
  await sleep(HOST_DOWN_MS);
  setLinkUp(linkOf(victim), { up: true });
  return record(
    'kill-primary-node',
    atMs,
    `SIGKILL of ${pids.length} processes of primary ${victim.name}, unreachable for ${HOST_DOWN_MS} ms at ${atClock}`,
    await recovery,
  );
}

const linkOf = (node: DatabaseNodeState) => ({ name: node.name, hostLink: node.hostLink, address: node.address });

async function freezePrimaryNode(context: FaultContext) {
  const victim = await pickNode(context, 'leader');
  const atMs = context.elapsed();
  // The wall clock too, to read the fault beside the nodes' own logs.
  const atClock = new Date().toISOString();
  const pids = signalNode(victim, 'SIGSTOP');
  context.log(`fault: SIGSTOP ${pids.length} processes of primary ${victim.name} for ${FREEZE_MS} ms`);
  const recovery = watchRecovery(context, victim, atMs, { expectPromotion: true });
  await sleep(FREEZE_MS);
  for (const pid of pids) process.kill(pid, 'SIGCONT');
  return record(
    'freeze-primary-node',
    atMs,
    `SIGSTOP of ${pids.length} processes of primary ${victim.name} for ${FREEZE_MS} ms at ${atClock}`,
    await recovery,
  );
}

async function partitionPrimary(context: FaultContext) {
  const victim = await pickNode(context, 'leader');
  const atMs = context.elapsed();
  // The wall clock too, to read the fault beside the nodes' own logs.
  const atClock = new Date().toISOString();
  setLinkUp(linkOf(victim), { up: false });
  context.log(`fault: primary ${victim.name} cut off for ${PARTITION_MS} ms`);
  const recovery = watchRecovery(context, victim, atMs, { expectPromotion: true });
  await sleep(PARTITION_MS);
  setLinkUp(linkOf(victim), { up: true });
  return record(
    'partition-primary',
    atMs,
    `primary ${victim.name} cut off (veth down) for ${PARTITION_MS} ms at ${atClock}`,
    await recovery,
  );
}

async function killSynchronousStandby(context: FaultContext) {
  const victim = await pickNode(context, 'sync_standby');
  const atMs = context.elapsed();
  // The wall clock too, to read the fault beside the nodes' own logs.
  const atClock = new Date().toISOString();
  const pids = signalNode(victim, 'SIGKILL');
  context.log(`fault: SIGKILL ${pids.length} processes of synchronous standby ${victim.name}`);
  return record(
    'kill-standby',
    atMs,
    `SIGKILL of ${pids.length} processes of synchronous standby ${victim.name} at ${atClock}`,
    await watchRecovery(context, victim, atMs, { expectPromotion: false, killedPatroniPid: victim.patroniPid }),
  );
}

/** The faults named on the command line (comma-separated), each repeated, as a schedule spread evenly over the run. */
export function haFaultSchedule(names: string, repeat: number) {
  const chosen = names.split(',').map((name) => {
    if (!(name in HA_FAULTS))
      throw new Error(`--ha-faults: unknown fault ${name}; known: ${Object.keys(HA_FAULTS).join(', ')}`);
    return name as HaFaultName;
  });
  const sequence = Array.from({ length: repeat }, () => chosen).flat();
  return sequence.map((name, index) => ({
    atFraction: (index + 0.25) / sequence.length,
    name: HA_FAULTS[name].describe,
    inject: HA_FAULTS[name].inject,
  }));
}
