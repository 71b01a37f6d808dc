// Owns one database node of the HA profile: Patroni 3.0.2 (Debian) managing a
// PostgreSQL 15, in the node's own network namespace, as the `postgres` user.
// Here: the configuration each node is started with (the failover timings
// and synchronous replication the ledger's durability depends on), the
// refusal of a DCS backend known to lose writes with this Patroni, and how a
// node is started, found and stopped.
//
// Timings (docs/ha.md), measured on this machine kind: a
// lost primary costs its leader key's ttl (3 s: the key was refreshed at
// most a loop before the fault), the remaining standbys' next loop (1 s),
// Patroni 3.0.2's check of the other members (a fixed 2 s timeout for a
// member that does not answer, unless its own key expired first), the
// promotion (0.3 s), and the other standby streaming from the new primary
// (strict mode holds every commit until then). ttl 3, loop_wait 1,
// retry_timeout 1 is the least Patroni accepts (loop_wait + 2 × retry_timeout
// <= ttl; all integers): a primary whose loop or etcd write stalls for
// retry_timeout demotes itself, which is safe (strict mode) and is the price
// of detecting a lost host in 3 s. Replication slots are off: 3.0.2 creates a
// slot on the new primary only a loop or two after the promotion, and until
// then the standby's every try fails ("replication slot does not exist"),
// measured 2 s of the write gap; wal_keep_size keeps the WAL a standby or a
// rejoining old primary needs instead. A standby retries its WAL source every
// 0.5 s instead of 5 s. synchronous_mode_strict: with no synchronous standby,
// commits wait (and the instances answer 503, outcome unknown) instead of
// going asynchronous; and the old primary cannot acknowledge a write once
// its synchronous standby was promoted, whatever these timings are.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readPidFile, processTree } from '../processes.js';
import { PROJECT_ROOT } from '../paths.js';
import type { Namespace } from './network.js';
import { haEventsHba, haEventsSettings } from '../../events/ha.js';

export const PATRONI_BINARY = '/usr/bin/patroni';
// Patroni is started through this script, which removes a race of its
// demotion after losing the DCS (the script says how).
export const PATRONI_START = {
  python: '/usr/bin/python3',
  script: path.join(PROJECT_ROOT, 'src', 'stack', 'ha', 'patroni-one-demotion.py'),
};
export const POSTGRES_BIN_DIRECTORY = '/usr/lib/postgresql/15/bin';
export const POSTGRES_PORT = 5432;
export const REST_PORT = 8008;
export const CLUSTER_SCOPE = 'crebito';
export const TIMINGS = { ttl: 3, loop_wait: 1, retry_timeout: 1 } as const;
// Room for every instance's pool, Patroni's own and the replication connections.
export const NODE_MAX_CONNECTIONS = 100;

/** The DCS backends crebito knows: `etcd` is etcd's v2 API, `etcd3` its v3 API. */
export type DcsBackend = 'etcd' | 'etcd3';

// Patroni up to 3.0.2 on etcd3 lets an old leader whose lease expired
// overwrite the leader key unconditionally (fixed upstream in 3.0.3): a
// frozen primary that comes back acknowledges writes the new primary never
// sees. Measured here: 8 acknowledged writes lost in 1 of 3 freezes.
const ETCD3_FIXED_IN = [3, 0, 3] as const;

export function parseVersion(text: string): number[] {
  const match = /(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (match === null) throw new Error(`cannot read a version in ${JSON.stringify(text)}`);
  return match.slice(1).map(Number);
}

const older = (version: readonly number[], than: readonly number[]) => {
  for (let index = 0; index < than.length; index++)
    if (version[index] !== than[index]) return version[index]! < than[index]!;
  return false;
};

/** Throws when this Patroni on this backend is known to lose acknowledged writes. */
export function checkDcsBackend(backend: DcsBackend, patroniVersion: string): void {
  if (backend === 'etcd3' && older(parseVersion(patroniVersion), ETCD3_FIXED_IN)) {
    throw new Error(
      `Patroni ${patroniVersion} on the etcd3 backend can lose acknowledged writes after a frozen primary comes back ` +
        `(its old leader overwrites the leader key; fixed in Patroni ${ETCD3_FIXED_IN.join('.')}): use the etcd (v2 API) backend`,
    );
  }
}

export function installedPatroniVersion(): string {
  if (!fs.existsSync(PATRONI_BINARY))
    throw new Error('CREBITO_HA=on needs Patroni (Debian: apt-get install patroni etcd-server haproxy postgresql-15)');
  return execFileSync(PATRONI_BINARY, ['--version'], { encoding: 'utf8' }).trim();
}

export interface Secrets {
  superuserPassword: string;
  replicationPassword: string;
  // The ledger's roles (sql/roles/create.sql), which log in over TCP here.
  ownerPassword: string;
  instancePassword: string;
}

export interface NodePlan {
  namespace: Namespace & { node: string };
  /** Where its data directory lives (owned by postgres). */
  dataDirectory: string;
  configPath: string;
  logDirectory: string;
}

export interface ClusterFacts {
  backend: DcsBackend;
  etcdAddress: string;
  subnet: string;
  secrets: Secrets;
  /** This node's WAL archiving (backup/ha.ts); none with backups off. */
  archive?: NodeArchiving;
}

export interface NodeArchiving {
  /** Its unix socket and archive_command. */
  parameters: Record<string, string>;
  /** Patroni's post_bootstrap: what must exist before the first segment is archived (the stanza). */
  postBootstrap: string;
}

function postgresqlSection(node: NodePlan, facts: ClusterFacts): object {
  const { address } = node.namespace;
  return {
    listen: `${address}:${POSTGRES_PORT}`,
    connect_address: `${address}:${POSTGRES_PORT}`,
    data_dir: node.dataDirectory,
    // Beside its config, where the postgres user may write (its HOME is root's under setpriv).
    pgpass: `${node.configPath}.pgpass`,
    bin_dir: POSTGRES_BIN_DIRECTORY,
    use_pg_rewind: true,
    remove_data_directory_on_rewind_failure: true,
    authentication: {
      superuser: { username: 'postgres', password: facts.secrets.superuserPassword },
      replication: { username: 'replicator', password: facts.secrets.replicationPassword },
      rewind: { username: 'postgres', password: facts.secrets.superuserPassword },
    },
    pg_hba: [
      'local all all trust',
      `host all all ${facts.subnet} scram-sha-256`,
      `host replication replicator ${facts.subnet} scram-sha-256`,
      ...haEventsHba(process.env, facts.subnet),
    ],
    parameters: {
      // Every node on its own address; no unix socket that three nodes on one file system would share,
      // except with backups on: then each node's socket is in a directory of its own (archive below).
      unix_socket_directories: '',
      max_connections: NODE_MAX_CONNECTIONS,
      fsync: 'on',
      full_page_writes: 'on',
      synchronous_commit: 'on',
      wal_log_hints: 'on',
      wal_retrieve_retry_interval: '500ms',
      logging_collector: 'on',
      log_directory: node.logDirectory,
      ...facts.archive?.parameters,
    },
  };
}

/** Patroni's configuration for one node (JSON, which is YAML). */
export function patroniConfig(node: NodePlan, facts: ClusterFacts): object {
  const { address } = node.namespace;
  return {
    scope: CLUSTER_SCOPE,
    name: node.namespace.node,
    log: { dir: node.logDirectory, level: 'INFO', file_num: 2, file_size: 10_000_000 },
    // No /dev/watchdog here. Patroni 3.0.2 checks the watchdog's timing
    // even when it is off, and warns on every loop when ttl - safety_margin
    // is shorter than a loop: a margin of 0 keeps that check quiet, and
    // means nothing with the watchdog off.
    watchdog: { mode: 'off', safety_margin: 0 },
    restapi: { listen: `${address}:${REST_PORT}`, connect_address: `${address}:${REST_PORT}` },
    [facts.backend]: { hosts: [`${facts.etcdAddress}`] },
    bootstrap: {
      dcs: {
        ...TIMINGS,
        maximum_lag_on_failover: 0,
        synchronous_mode: true,
        synchronous_mode_strict: true,
        // Both standbys synchronous, not one: with one, the other (async)
        // standby may have received WAL the promoted one never did, and
        // then must pg_rewind before it can follow, while strict mode holds
        // every write for want of a standby (measured: 34 s without writes
        // in 1 of 9 failovers). With both, Patroni promotes the one furthest
        // ahead and the other is a prefix of it. Each commit waits for the
        // slower of two flushes instead of one, which measured no slower
        // than one here (docs/ha-measurements.md, Cost).
        synchronous_node_count: 2,
        // Slots off and WAL kept instead: see the timings above.
        postgresql: {
          use_pg_rewind: true,
          use_slots: false,
          parameters: { max_wal_senders: 10, max_replication_slots: 10, wal_keep_size: '512MB', hot_standby: 'on' },
        },
        // CREBITO_EVENTS=on: logical decoding, and the stream's slot kept on every node (events/ha.ts).
        ...haEventsSettings(process.env),
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }, 'data-checksums'],
      ...(facts.archive === undefined ? {} : { post_bootstrap: facts.archive.postBootstrap }),
    },
    postgresql: postgresqlSection(node, facts),
  };
}

export function writePatroniConfig(node: NodePlan, facts: ClusterFacts, owner: { uid: number; gid: number }): void {
  fs.mkdirSync(node.logDirectory, { recursive: true });
  fs.chownSync(node.logDirectory, owner.uid, owner.gid);
  fs.writeFileSync(node.configPath, `${JSON.stringify(patroniConfig(node, facts), null, 2)}\n`, { mode: 0o600 });
  fs.chownSync(node.configPath, owner.uid, owner.gid);
}

/** Every process of a node now: Patroni and its helpers, and the postmaster (Patroni detaches it) with its children. */
export function nodeProcesses(patroniPid: number | undefined, dataDirectory: string): number[] {
  const postmaster = readPidFile(path.join(dataDirectory, 'postmaster.pid'));
  const fromPatroni = patroniPid === undefined ? [] : processTree(patroniPid);
  const fromPostmaster = postmaster === undefined || fromPatroni.includes(postmaster) ? [] : processTree(postmaster);
  return [...fromPatroni, ...fromPostmaster].filter((pid) => fs.existsSync(`/proc/${pid}`));
}
