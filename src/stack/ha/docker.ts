// Owns the HA profile's files for docker compose (docker-compose.ha.yml):
// each node's Patroni configuration and HAProxy's, and the script Patroni
// starts through, rendered by the same code
// as CREBITO_HA=on's, with compose's service names for addresses. A test
// fails while the files in docker/ha/ differ from this rendering.
//
//   npm run ha:docker    rewrites docker/ha/

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../paths.js';
import { NODE_NAMES } from './network.js';
import { PATRONI_START, patroniConfig, type ClusterFacts } from './patroni.js';
import { ETCD_CLIENT_PORT, haproxyConfig } from './services.js';

export const DOCKER_HA_DIRECTORY = path.join(PROJECT_ROOT, 'docker', 'ha');
// Inside the node image (docker/ha/Dockerfile): PostgreSQL's data and Patroni's logs.
const CONTAINER_DATA_DIRECTORY = '/var/lib/postgresql/data';
const CONTAINER_LOG_DIRECTORY = '/var/lib/postgresql/log';
// The compose network's addresses; compose keeps other networks out. The
// passwords are compose's example ones, like the db service's: change both
// files together for anything but a local run.
const FACTS: ClusterFacts = {
  backend: 'etcd',
  etcdAddress: `etcd:${ETCD_CLIENT_PORT}`,
  subnet: '0.0.0.0/0',
  secrets: {
    superuserPassword: 'crebito',
    replicationPassword: 'crebito-replication',
    ownerPassword: 'crebito-owner',
    instancePassword: 'crebito-api',
  },
};

/** Every file of docker/ha/ that is rendered, by name. */
export function dockerHaFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const node of NODE_NAMES) {
    const plan = {
      namespace: { node, name: node, hostLink: node, address: node },
      dataDirectory: CONTAINER_DATA_DIRECTORY,
      configPath: `/etc/patroni/${node}.yml`,
      logDirectory: CONTAINER_LOG_DIRECTORY,
    };
    files[`${node}.yml`] = `${JSON.stringify(patroniConfig(plan, FACTS), null, 2)}\n`;
  }
  // The image starts Patroni through the same script as the launcher (docker/ha/Dockerfile).
  files[path.basename(PATRONI_START.script)] = fs.readFileSync(PATRONI_START.script, 'utf8');
  files['haproxy.cfg'] = haproxyConfig({
    bind: `*:5432`,
    nodes: NODE_NAMES.map((node) => ({ name: node, host: node })),
  });
  return files;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  fs.mkdirSync(DOCKER_HA_DIRECTORY, { recursive: true });
  for (const [name, content] of Object.entries(dockerHaFiles()))
    fs.writeFileSync(path.join(DOCKER_HA_DIRECTORY, name), content);
  console.log(`wrote ${Object.keys(dockerHaFiles()).join(', ')} in ${DOCKER_HA_DIRECTORY}`);
}
