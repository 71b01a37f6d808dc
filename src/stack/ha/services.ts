// Owns the two services every node of the HA profile relies on, both in the
// services namespace: etcd (Patroni's consensus store: who holds the leader
// key) and HAProxy (the one stable address the instances use: it sends each
// new connection to the node whose Patroni says /primary, and cuts the
// connections to a node as soon as it stops saying so).

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { StackLog } from '../../shared/log.js';
import { waitForOrThrow } from '../../shared/wait.js';
import {
  CHILD_POLL_INTERVAL_MS,
  CHILD_READY_TIMEOUT_MS,
  CHILD_STOP_TIMEOUT_MS,
  startChild,
  type Child,
} from '../child.js';
import { inNamespace, type HaNetwork } from './network.js';
import { POSTGRES_PORT, REST_PORT } from './patroni.js';

export const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;
// HAProxy's checks: every 500 ms, 250 ms while a node changes state or is
// down (so a newly promoted primary is sent connections within 250 ms of its
// Patroni holding the leader key); down after 2 failed checks, up after 1
// good one. Connections to a node marked down are cut at once, so no
// instance keeps talking to a demoted primary. OPTIONS, not GET: Patroni
// then writes the status line alone, which HAProxy reads before it resets
// the connection; with GET it also writes a JSON body into that reset and
// logs a ConnectionResetError traceback for every check (the noise the
// nodes' logs were full of).
const CHECK_TIMEOUT_MS = 1000;
const CHECK_INTERVAL_MS = 500;
const CHECKS_TO_FALL = 2;
// HAProxy starts with every server up until its checks say otherwise: ready
// only after enough checks to have marked every non-primary down, so that
// no connection reaches a read-only standby.
const FIRST_VERDICTS_MS = CHECK_INTERVAL_MS * (CHECKS_TO_FALL + 1);
// Longer than any query; a connection idle this long is not ours to keep.
const SESSION_TIMEOUT = '30m';

export function etcdAddress(network: HaNetwork): string {
  return `${network.services.address}:${ETCD_CLIENT_PORT}`;
}

/** The stable address: HAProxy on the services namespace's address, PostgreSQL's port. */
export function primaryAddress(network: HaNetwork): string {
  return `${network.services.address}:${POSTGRES_PORT}`;
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

export function acceptsConnections(address: string): Promise<boolean> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), host);
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

/** etcd 3.4 with its v2 API on (the backend Patroni 3.0.2 does not lose writes on), data in directory. */
export function startEtcd(network: HaNetwork, directory: string, log: StackLog): Promise<Child> {
  const clientUrl = `http://${etcdAddress(network)}`;
  const peerUrl = `http://${network.services.address}:${ETCD_PEER_PORT}`;
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  return startChild({
    name: 'etcd',
    command: 'ip',
    args: [
      ...inNamespace(network.services, { user: undefined }),
      'etcd',
      '--name',
      'crebito',
      '--data-dir',
      directory,
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      `crebito=${peerUrl}`,
      '--enable-v2=true',
      '--log-level',
      'warn',
    ],
    spawnOptions: { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
    waitUntilReady: () =>
      waitForOrThrow('etcd answering /health', () => answers(`${clientUrl}/health`), {
        timeoutMs: CHILD_READY_TIMEOUT_MS,
        intervalMs: CHILD_POLL_INTERVAL_MS,
      }),
    readyTimeoutMs: CHILD_READY_TIMEOUT_MS,
    stopSignal: 'SIGTERM',
    stopTimeoutMs: CHILD_STOP_TIMEOUT_MS,
    forceSignal: 'SIGKILL',
    log,
  });
}

/** Where HAProxy listens and the nodes it routes to: this machine's namespaces, or docker compose's services. */
export interface HaproxyPlan {
  bind: string;
  nodes: { name: string; host: string }[];
}

export function haproxyPlanFor(network: HaNetwork): HaproxyPlan {
  return {
    bind: primaryAddress(network),
    nodes: network.nodes.map((node) => ({ name: node.node, host: node.address })),
  };
}

export function haproxyConfig(plan: HaproxyPlan): string {
  const servers = plan.nodes.map(
    (node) => `  server ${node.name} ${node.host}:${POSTGRES_PORT} check port ${REST_PORT}`,
  );
  return [
    'global',
    '  maxconn 1000',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    `  timeout client ${SESSION_TIMEOUT}`,
    `  timeout server ${SESSION_TIMEOUT}`,
    `  timeout check ${CHECK_TIMEOUT_MS}ms`,
    'listen primary',
    `  bind ${plan.bind}`,
    '  option httpchk OPTIONS /primary',
    '  http-check expect status 200',
    `  default-server inter ${CHECK_INTERVAL_MS}ms fastinter 250ms downinter 250ms fall ${CHECKS_TO_FALL} rise 1 on-marked-down shutdown-sessions`,
    ...servers,
    '',
  ].join('\n');
}

export function startHaproxy(network: HaNetwork, directory: string, log: StackLog): Promise<Child> {
  fs.mkdirSync(directory, { recursive: true });
  const configPath = path.join(directory, 'haproxy.cfg');
  fs.writeFileSync(configPath, haproxyConfig(haproxyPlanFor(network)));
  return startChild({
    name: 'haproxy',
    command: 'ip',
    // -db: in the foreground, so the launcher supervises the process itself.
    args: [...inNamespace(network.services, { user: undefined }), 'haproxy', '-db', '-f', configPath],
    spawnOptions: { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
    waitUntilReady: async () => {
      await waitForOrThrow('HAProxy accepting connections', () => acceptsConnections(primaryAddress(network)), {
        timeoutMs: CHILD_READY_TIMEOUT_MS,
        intervalMs: CHILD_POLL_INTERVAL_MS,
      });
      await new Promise((resolve) => setTimeout(resolve, FIRST_VERDICTS_MS));
    },
    readyTimeoutMs: CHILD_READY_TIMEOUT_MS,
    // Hard stop: the instances, its only clients, have stopped already.
    stopSignal: 'SIGTERM',
    stopTimeoutMs: CHILD_STOP_TIMEOUT_MS,
    forceSignal: 'SIGKILL',
    log,
  });
}
