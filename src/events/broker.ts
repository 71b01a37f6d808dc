// Owns the local RabbitMQ the launcher runs when CREBITO_EVENTS=on names no
// broker: its own node name, data and log directories under the data
// directory, and its own ports (AMQP on 127.0.0.1 only, Erlang's port mapper
// and distribution port next to it), so it shares nothing with a RabbitMQ the
// machine may already run. Debian's package ships the server; as root it runs
// as its `rabbitmq` user, which must own those directories.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import amqp from 'amqplib';
import type { StackLog } from '../shared/log.js';
import { waitForOrThrow } from '../shared/wait.js';
import { hasExited, startChild, type Child } from '../stack/child.js';
import { place, type Placement } from './cpu.js';

const SERVER_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const SYSTEM_USER = 'rabbitmq';
const READY_TIMEOUT_MS = 60_000;
const READY_POLL_INTERVAL_MS = 250;
// A clean stop writes its queues' state; SIGKILL after this.
const STOP_TIMEOUT_MS = 30_000;

export interface BrokerPlan {
  directory: string;
  /** AMQP; the port mapper listens on port + 1 and Erlang distribution on port + 2. */
  port: number;
  /** Where its processes go on the CPU (cpu.ts): placed as soon as it is spawned. */
  placement: Placement;
}

export interface LocalBroker extends Child {
  url: string;
}

export const localBrokerUrl = (port: number) => `amqp://guest:guest@127.0.0.1:${port}`;

export function brokerInstalled(): boolean {
  return fs.existsSync(SERVER_SCRIPT);
}

function systemUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, SYSTEM_USER], { encoding: 'utf8' });
  const uid = id('-u');
  if (uid.status !== 0)
    throw new Error(
      `running as root, RabbitMQ runs as the '${SYSTEM_USER}' user, which does not exist (apt-get install rabbitmq-server)`,
    );
  return { uid: Number(uid.stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

function prepareDirectories(plan: BrokerPlan, owner: { uid: number; gid: number } | undefined): Record<string, string> {
  const directories = {
    home: path.join(plan.directory, 'home'),
    mnesia: path.join(plan.directory, 'mnesia'),
    log: path.join(plan.directory, 'log'),
  };
  for (const directory of [plan.directory, ...Object.values(directories)]) {
    fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
    if (owner !== undefined) fs.chownSync(directory, owner.uid, owner.gid);
  }
  // No plugins: the management plugin would open a web port of its own.
  const pluginsFile = path.join(directories.home, 'enabled_plugins');
  fs.writeFileSync(pluginsFile, '[].\n');
  if (owner !== undefined) fs.chownSync(pluginsFile, owner.uid, owner.gid);
  return directories;
}

function environmentFor(plan: BrokerPlan, directories: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: directories.home!,
    LANG: 'C.UTF-8',
    RABBITMQ_NODENAME: `crebito-${plan.port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(plan.port),
    RABBITMQ_DIST_PORT: String(plan.port + 2),
    ERL_EPMD_PORT: String(plan.port + 1),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_MNESIA_BASE: directories.mnesia!,
    RABBITMQ_LOG_BASE: directories.log!,
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(directories.home!, 'enabled_plugins'),
    RABBITMQ_PID_FILE: path.join(directories.home!, 'rabbitmq.pid'),
    // Into the launcher's own output, as nginx and PostgreSQL log.
    RABBITMQ_LOGS: '-',
    // The script then execs the Erlang VM instead of keeping it as a child
    // of its shell: the pid the launcher holds is the broker itself, which a
    // signal (and the launcher's supervision) reaches. -noinput, passed as
    // an argument, keeps the VM from reading a terminal.
    RABBITMQ_ALLOW_INPUT: 'true',
    // Erlang's schedulers spin while idle by default, taking CPU the API and
    // PostgreSQL need on a small machine (measured by `npm run events:cost`).
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '+sbwt none +sbwtdcpu none +sbwtdio none',
  };
}

async function acceptsAmqp(url: string): Promise<boolean> {
  try {
    const connection = await amqp.connect(url);
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Erlang's port mapper outlives the node that started it; ours has its own port, so stopping it touches nothing else. */
export function stopPortMapper(port: number): void {
  spawnSync('epmd', ['-kill'], { env: { ...process.env, ERL_EPMD_PORT: String(port + 1) }, stdio: 'ignore' });
}

export async function startLocalBroker(plan: BrokerPlan, log: StackLog): Promise<LocalBroker> {
  if (!brokerInstalled())
    throw new Error(
      'CREBITO_EVENTS=on without CREBITO_EVENTS_URL runs a local RabbitMQ, which is not installed (Debian/Ubuntu: apt-get install rabbitmq-server)',
    );
  if (await portOpen(plan.port)) throw new Error(`port ${plan.port} (CREBITO_EVENTS_BROKER_PORT) is already taken`);
  const owner = systemUser();
  const directories = prepareDirectories(plan, owner);
  const url = localBrokerUrl(plan.port);
  const child = await startChild({
    name: 'RabbitMQ',
    command: SERVER_SCRIPT,
    args: ['-noinput'],
    spawnOptions: {
      ...(owner ?? {}),
      cwd: directories.home,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: environmentFor(plan, directories),
    },
    waitUntilReady: (server) => {
      if (server.pid !== undefined && !place(server.pid, plan.placement, true))
        log.warn("RabbitMQ runs at the ledger's CPU priority: its placement was refused");
      return waitForOrThrow(`RabbitMQ accepting AMQP on port ${plan.port}`, () => acceptsAmqp(url), {
        timeoutMs: READY_TIMEOUT_MS,
        intervalMs: READY_POLL_INTERVAL_MS,
        abandonWhen: () => hasExited(server),
      });
    },
    readyTimeoutMs: READY_TIMEOUT_MS,
    // SIGTERM is RabbitMQ's clean stop.
    stopSignal: 'SIGTERM',
    stopTimeoutMs: STOP_TIMEOUT_MS,
    forceSignal: 'SIGKILL',
    log,
  });
  log.info(`RabbitMQ pid ${child.identity.pid} on ${url.replace(/\/\/[^@]*@/, '//')}`);
  return { ...child, url };
}
