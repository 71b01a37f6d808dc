// Owns the HA profile's network: each database node, and the services every
// node needs (etcd, HAProxy), in a network namespace of its own, joined by
// veth pairs to one bridge on this machine. A node's own address is what lets
// a fault cut it off (its veth taken down) while the rest keeps talking,
// which loopback aliases cannot do. Names and the subnet derive from the
// data directory, so two stacks on two data directories never share them,
// and a launcher always finds (and clears) what an earlier one of the same
// data directory left behind. Needs root (`ip netns`).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';

/** The node names, in order: also their Patroni member names. */
export const NODE_NAMES = ['pg1', 'pg2', 'pg3'] as const;
// Host side .1, services .10, nodes .11 on: one /24 per stack.
const HOST_OCTET = 1;
const SERVICES_OCTET = 10;
const FIRST_NODE_OCTET = 11;
// Subnets 10.200.0.0/24 … 10.200.199.0/24, chosen by the data directory's hash.
const SUBNETS = 200;

export interface Namespace {
  name: string;
  /** The host end of its veth pair (ip link set … down cuts it off). */
  hostLink: string;
  address: string;
}

export interface HaNetwork {
  bridge: string;
  hostAddress: string;
  services: Namespace;
  nodes: (Namespace & { node: string })[];
}

export function planNetwork(dataDirectory: string): HaNetwork {
  const digest = createHash('sha256').update(dataDirectory).digest();
  const tag = digest.toString('hex').slice(0, 6);
  const prefix = `10.200.${digest.readUInt16BE(0) % SUBNETS}`;
  // Interface names are at most 15 bytes: "cb" + 6 + "-pg1" fits.
  const namespace = (suffix: string, octet: number): Namespace => ({
    name: `crebito-${tag}-${suffix}`,
    hostLink: `cb${tag}-${suffix}`,
    address: `${prefix}.${octet}`,
  });
  return {
    bridge: `cb${tag}-br`,
    hostAddress: `${prefix}.${HOST_OCTET}`,
    services: namespace('svc', SERVICES_OCTET),
    nodes: NODE_NAMES.map((node, index) => ({ node, ...namespace(node, FIRST_NODE_OCTET + index) })),
  };
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const namespacesOf = (network: HaNetwork) => [network.services, ...network.nodes];

/** Every process still running in one of this stack's namespaces: certainly ours, whoever started it. */
export function processesInNetwork(network: HaNetwork): number[] {
  return namespacesOf(network).flatMap((namespace) => {
    if (!fs.existsSync(`/run/netns/${namespace.name}`)) return [];
    return ip('netns', 'pids', namespace.name)
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
  });
}

/** The bridge, each namespace with its veth pair and address; what an earlier launcher left is removed first. */
export function createNetwork(network: HaNetwork): void {
  removeNetwork(network);
  ip('link', 'add', network.bridge, 'type', 'bridge');
  ip('addr', 'add', `${network.hostAddress}/24`, 'dev', network.bridge);
  ip('link', 'set', network.bridge, 'up');
  for (const namespace of namespacesOf(network)) {
    ip('netns', 'add', namespace.name);
    ip('link', 'add', namespace.hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace.name);
    ip('link', 'set', namespace.hostLink, 'master', network.bridge);
    ip('link', 'set', namespace.hostLink, 'up');
    ip('-n', namespace.name, 'addr', 'add', `${namespace.address}/24`, 'dev', 'eth0');
    ip('-n', namespace.name, 'link', 'set', 'eth0', 'up');
    ip('-n', namespace.name, 'link', 'set', 'lo', 'up');
  }
}

/** Removes the namespaces (their veth pairs go with them) and the bridge; absent ones are skipped. */
export function removeNetwork(network: HaNetwork): void {
  for (const namespace of namespacesOf(network)) {
    if (fs.existsSync(`/run/netns/${namespace.name}`)) ip('netns', 'delete', namespace.name);
  }
  try {
    ip('link', 'delete', network.bridge);
  } catch {
    // No bridge left behind: nothing to remove.
  }
}

/** Cuts a namespace off from every other part (or joins it again): its veth's host end goes down (up). */
export function setLinkUp(namespace: Namespace, options: { up: boolean }): void {
  ip('link', 'set', namespace.hostLink, options.up ? 'up' : 'down');
}

/** The command prefix that runs a program inside a namespace, as a given user. */
export function inNamespace(namespace: Namespace, options: { user: string | undefined }): string[] {
  const asUser =
    options.user === undefined
      ? []
      : ['setpriv', `--reuid=${options.user}`, `--regid=${options.user}`, '--init-groups', '--'];
  return ['netns', 'exec', namespace.name, ...asUser];
}
