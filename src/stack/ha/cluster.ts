// Owns the HA profile's database tier as one part the launcher starts and
// stops (CREBITO_HA=on): the network namespaces, etcd, three Patroni nodes
// and HAProxy, each supervised like any child, and what it reports to
// state.json: every node with its address, its role as Patroni's /cluster
// says it, and the pids of all its processes. Data lives in <data>/ha.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { waitForOrThrow } from '../../shared/wait.js';
import { startChild, type Child } from '../child.js';
import type { SupervisionHooks } from '../children.js';
import { ensureLedgerDatabase, INSTANCE_ROLE, OWNER_ROLE } from '../database-roles.js';
import { Supervised } from '../supervisor.js';
import {
  createNetwork,
  inNamespace,
  planNetwork,
  processesInNetwork,
  removeNetwork,
  type HaNetwork,
} from './network.js';
import {
  checkDcsBackend,
  installedPatroniVersion,
  nodeProcesses,
  PATRONI_START,
  REST_PORT,
  writePatroniConfig,
  type DcsBackend,
  type NodeArchiving,
  type NodePlan,
  type Secrets,
} from './patroni.js';
import { etcdAddress, primaryAddress, startEtcd, startHaproxy } from './services.js';

export const HA_DATABASE_NAME = 'crebito';
const SYSTEM_USER = 'postgres';
// A first start runs initdb and two base backups.
const CLUSTER_READY_TIMEOUT_MS = 120_000;
const NODE_READY_TIMEOUT_MS = 60_000;
// Patroni stops PostgreSQL (a fast shutdown) before it exits.
const NODE_STOP_TIMEOUT_MS = 30_000;
const NODE_POLL_INTERVAL_MS = 250;
const ROLE_POLL_INTERVAL_MS = 1000;
const REST_TIMEOUT_MS = 500;

export type NodeRole = 'primary' | 'standby' | 'unknown';

/** One database node as state.json records it. */
export interface DatabaseNodeState {
  name: string;
  address: string;
  role: NodeRole;
  /** Patroni's pid: the root of the node's processes (its postmaster runs detached). */
  patroniPid: number | null;
  dataDirectory: string;
  /** Every process of the node when the state was written: Patroni, the postmaster and its children. */
  pids: number[];
  /** The host end of its veth pair: down cuts the node off. */
  hostLink: string;
}

export interface HaOptions {
  dataDirectory: string;
  backend: DcsBackend;
  hooks: SupervisionHooks;
  /** Backups on: each node's archiving, and the environment its archive_command needs (backup/ha.ts). */
  archiving?: { forNode(node: string): NodeArchiving; environment: Record<string, string> };
}

/** The nodes' OS user (PostgreSQL's Debian package makes it). */
export function systemUser(): { uid: number; gid: number } {
  const read = (flag: string) => Number(execFileSync('id', [flag, SYSTEM_USER], { encoding: 'utf8' }).trim());
  return { uid: read('-u'), gid: read('-g') };
}

const newPassword = () => randomBytes(18).toString('base64url');

/** What the tools' passwords file holds (state.ts's passwordsFile): each database role's password, by role name. */
export type RolePasswords = Record<string, string>;

/** The cluster's passwords, made once; a file from before the ledger's roles gains theirs. */
function readOrCreateSecrets(file: string): Secrets {
  const found = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Secrets>) : {};
  const secrets: Secrets = {
    superuserPassword: found.superuserPassword ?? newPassword(),
    replicationPassword: found.replicationPassword ?? newPassword(),
    ownerPassword: found.ownerPassword ?? newPassword(),
    instancePassword: found.instancePassword ?? newPassword(),
  };
  fs.writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
}

interface ClusterMember {
  name: string;
  role: string;
  state: string;
}

async function readCluster(network: HaNetwork): Promise<ClusterMember[] | undefined> {
  for (const node of network.nodes) {
    try {
      const response = await fetch(`http://${node.address}:${REST_PORT}/cluster`, {
        signal: AbortSignal.timeout(REST_TIMEOUT_MS),
      });
      if (response.ok) return ((await response.json()) as { members: ClusterMember[] }).members;
    } catch {
      // That node does not answer (stopped, frozen, cut off): ask the next.
    }
  }
  return undefined;
}

/** Healthy enough to serve: a running leader and a synchronous standby. */
function isServing(members: ClusterMember[] | undefined): boolean {
  const running = (member: ClusterMember) => member.state === 'running' || member.state === 'streaming';
  return (
    members !== undefined &&
    members.some((member) => member.role === 'leader' && running(member)) &&
    members.some((member) => member.role === 'sync_standby' && running(member))
  );
}

export class HaCluster {
  readonly network: HaNetwork;
  /** The superuser's URL, through HAProxy: for the launcher and the tools, never the instances. */
  readonly databaseUrl: string;
  /** The schema owner's URL (applies sql/) and the instances' (crebito_api), both through HAProxy. */
  readonly ownerUrl: string;
  readonly instanceUrl: string;
  /** The superuser's and the instances' passwords by role, for the tools (state.json names it, holds none). */
  readonly passwordsFile: string;
  private readonly secrets: Secrets;
  private readonly directory: string;
  private readonly owner = systemUser();
  private readonly etcd: Supervised;
  private readonly haproxy: Supervised;
  private readonly nodePlans: NodePlan[];
  readonly nodes: Supervised[];
  private roles = new Map<string, NodeRole>();
  private rolePoller: NodeJS.Timeout | undefined;

  constructor(private readonly options: HaOptions) {
    checkDcsBackend(options.backend, installedPatroniVersion());
    this.directory = path.join(options.dataDirectory, 'ha');
    this.network = planNetwork(options.dataDirectory);
    // Traversable (not readable) by the postgres user, who reads its node's files below; secrets.json stays root's.
    fs.mkdirSync(this.directory, { recursive: true });
    fs.chmodSync(this.directory, 0o711);
    const secrets = readOrCreateSecrets(path.join(this.directory, 'secrets.json'));
    this.secrets = secrets;
    const urlAs = (role: string, password: string) =>
      `postgresql://${role}:${encodeURIComponent(password)}@${primaryAddress(this.network)}/${HA_DATABASE_NAME}`;
    this.databaseUrl = urlAs('postgres', secrets.superuserPassword);
    this.ownerUrl = urlAs(OWNER_ROLE, secrets.ownerPassword);
    this.instanceUrl = urlAs(INSTANCE_ROLE, secrets.instancePassword);
    this.passwordsFile = path.join(this.directory, 'tool-passwords.json');
    const passwords: RolePasswords = { postgres: secrets.superuserPassword, [INSTANCE_ROLE]: secrets.instancePassword };
    fs.writeFileSync(this.passwordsFile, JSON.stringify(passwords), { mode: 0o600 });
    const { hooks } = options;
    this.etcd = new Supervised({
      name: 'etcd',
      start: () => startEtcd(this.network, path.join(this.directory, 'etcd'), hooks.log),
      ...hooks,
    });
    this.haproxy = new Supervised({
      name: 'haproxy',
      start: () => startHaproxy(this.network, path.join(this.directory, 'haproxy'), hooks.log),
      ...hooks,
    });
    this.nodePlans = this.network.nodes.map((namespace) => ({
      namespace,
      dataDirectory: path.join(this.directory, 'nodes', namespace.node),
      configPath: path.join(this.directory, 'nodes', `${namespace.node}.yml`),
      logDirectory: path.join(this.directory, 'nodes', `${namespace.node}-log`),
    }));
    const facts = {
      backend: options.backend,
      etcdAddress: etcdAddress(this.network),
      subnet: `${this.network.hostAddress}/24`,
      secrets,
    };
    this.nodes = this.nodePlans.map(
      (plan) => new Supervised({ name: plan.namespace.node, start: () => this.startNode(plan, facts), ...hooks }),
    );
  }

  private startNode(plan: NodePlan, facts: Parameters<typeof writePatroniConfig>[1]): Promise<Child> {
    const { archiving } = this.options;
    writePatroniConfig(plan, { ...facts, archive: archiving?.forNode(plan.namespace.node) }, this.owner);
    return startChild({
      name: plan.namespace.node,
      command: 'ip',
      args: [
        ...inNamespace(plan.namespace, { user: SYSTEM_USER }),
        PATRONI_START.python,
        PATRONI_START.script,
        plan.configPath,
      ],
      // Patroni passes its environment to PostgreSQL, whose archive_command needs the repository's key.
      spawnOptions: {
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, ...archiving?.environment },
      },
      // Started means its REST API answers; whether PostgreSQL serves is the cluster's wait.
      waitUntilReady: () =>
        waitForOrThrow(
          `${plan.namespace.node}'s Patroni REST API`,
          async () => {
            try {
              await fetch(`http://${plan.namespace.address}:${REST_PORT}/patroni`, {
                signal: AbortSignal.timeout(REST_TIMEOUT_MS),
              });
              return true;
            } catch {
              return false;
            }
          },
          { timeoutMs: NODE_READY_TIMEOUT_MS, intervalMs: NODE_POLL_INTERVAL_MS },
        ),
      readyTimeoutMs: NODE_READY_TIMEOUT_MS,
      stopSignal: 'SIGTERM',
      stopTimeoutMs: NODE_STOP_TIMEOUT_MS,
      forceSignal: 'SIGKILL',
      log: this.options.hooks.log,
    });
  }

  /** Everything up, in order, and the database created; resolves once a primary with a synchronous standby serves. */
  async start(): Promise<void> {
    this.killLeftovers();
    createNetwork(this.network);
    const nodesParent = path.join(this.directory, 'nodes');
    fs.mkdirSync(nodesParent, { recursive: true, mode: 0o700 });
    fs.chownSync(nodesParent, this.owner.uid, this.owner.gid);
    await this.etcd.start();
    await Promise.all(this.nodes.map((node) => node.start()));
    await waitForOrThrow(
      'a primary with a synchronous standby',
      async () => isServing(await readCluster(this.network)),
      { timeoutMs: CLUSTER_READY_TIMEOUT_MS, intervalMs: NODE_POLL_INTERVAL_MS },
    );
    await this.haproxy.start();
    await this.createDatabase();
    await this.pollRoles();
    this.rolePoller = setInterval(() => void this.pollRoles(), ROLE_POLL_INTERVAL_MS);
  }

  /** Processes a killed launcher left in this stack's namespaces: ours by where they run. */
  private killLeftovers(): void {
    const leftovers = processesInNetwork(this.network);
    if (leftovers.length === 0) return;
    this.options.hooks.log.warn(
      `stopping ${leftovers.length} processes left in the HA namespaces by a crebito that did not stop cleanly`,
    );
    for (const pid of leftovers) process.kill(pid, 'SIGKILL');
  }

  /** The ledger's roles and database; over TCP the roles need passwords, which only this cluster knows. */
  private async createDatabase(): Promise<void> {
    const maintenanceUrl = this.databaseUrl.replace(/\/[^/]+$/, '/postgres');
    await ensureLedgerDatabase({
      superuserMaintenanceUrl: maintenanceUrl,
      superuserDatabaseUrl: this.databaseUrl,
      databaseName: HA_DATABASE_NAME,
    });
    const client = new pg.Client({ connectionString: maintenanceUrl });
    await client.connect();
    try {
      // The passwords are ours, made above; quoting them as literals is safe (base64url).
      await client.query(`ALTER ROLE ${OWNER_ROLE} PASSWORD '${this.secrets.ownerPassword}'`);
      await client.query(`ALTER ROLE ${INSTANCE_ROLE} PASSWORD '${this.secrets.instancePassword}'`);
    } finally {
      await client.end();
    }
  }

  private async pollRoles(): Promise<void> {
    const members = await readCluster(this.network);
    if (members === undefined) return;
    const roles = new Map(
      this.network.nodes.map((node) => {
        const member = members.find((candidate) => candidate.name === node.node);
        return [
          node.node,
          member === undefined ? 'unknown' : member.role === 'leader' ? 'primary' : 'standby',
        ] as const;
      }),
    );
    const changed = [...roles].some(([name, role]) => this.roles.get(name) !== role);
    this.roles = roles;
    if (changed) this.options.hooks.onStarted();
  }

  nodeStates(): DatabaseNodeState[] {
    return this.nodePlans.map((plan, index) => {
      const patroniPid = this.nodes[index]!.running?.identity.pid ?? null;
      return {
        name: plan.namespace.node,
        address: plan.namespace.address,
        role: this.roles.get(plan.namespace.node) ?? 'unknown',
        patroniPid,
        dataDirectory: plan.dataDirectory,
        pids: nodeProcesses(patroniPid ?? undefined, plan.dataDirectory),
        hostLink: plan.namespace.hostLink,
      };
    });
  }

  /** HAProxy, the nodes, etcd; then whatever still runs in the namespaces, and the namespaces. */
  async stop(): Promise<void> {
    clearInterval(this.rolePoller);
    await this.haproxy.stop();
    await Promise.all(this.nodes.map((node) => node.stop()));
    await this.etcd.stop();
    this.killLeftovers();
    removeNetwork(this.network);
  }
}
