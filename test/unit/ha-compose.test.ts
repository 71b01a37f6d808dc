// The HA profile for docker compose is checked as files, like the main one
// (there is no Docker engine here): the topology of CREBITO_HA=on, etcd with
// its v2 API on, every node's Patroni configuration and HAProxy's exactly as
// the launcher's own code renders them (npm run ha:docker), and the API
// instances pointed at HAProxy once the schema is applied.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { DOCKER_HA_DIRECTORY, dockerHaFiles } from '../../src/stack/ha/docker.js';

interface Service {
  profiles?: string[];
  command?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
}

const INIT_SCRIPT = 'sql/roles/docker-init.sh';

const compose = parse(fs.readFileSync(path.join(PROJECT_ROOT, 'docker-compose.ha.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};

describe('docker-compose.ha.yml', () => {
  it('adds etcd, three Patroni nodes, HAProxy and the schema step, all in the ha profile', () => {
    const profiled = Object.entries(compose.services)
      .filter(([, service]) => service.profiles?.includes('ha'))
      .map(([name]) => name)
      .sort();
    expect(profiled).toEqual(['etcd', 'ha-schema', 'haproxy', 'pg1', 'pg2', 'pg3']);
  });

  it('starts etcd with its v2 API, the backend the nodes use', () => {
    expect(compose.services.etcd!.command).toContain('--enable-v2=true');
    for (const node of ['pg1', 'pg2', 'pg3']) {
      const config = JSON.parse(fs.readFileSync(path.join(DOCKER_HA_DIRECTORY, `${node}.yml`), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(config.etcd).toEqual({ hosts: ['etcd:2379'] });
      expect(config.etcd3).toBeUndefined();
      expect(config.bootstrap).toMatchObject({ dcs: { synchronous_mode: true, synchronous_mode_strict: true } });
      expect(compose.services[node]!.volumes).toEqual([`./docker/ha/${node}.yml:/etc/patroni/${node}.yml:ro`]);
    }
  });

  it('mounts files equal to what the launcher renders (npm run ha:docker rewrites them)', () => {
    for (const [name, content] of Object.entries(dockerHaFiles())) {
      expect(fs.readFileSync(path.join(DOCKER_HA_DIRECTORY, name), 'utf8'), name).toBe(content);
    }
    expect(dockerHaFiles()['haproxy.cfg']).toContain('option httpchk OPTIONS /primary');
  });

  it('points both API instances at HAProxy as crebito_api, after the schema step', () => {
    const schema = compose.services['ha-schema']!;
    for (const api of ['api1', 'api2']) {
      const url = new URL(compose.services[api]!.environment!.DATABASE_URL!);
      expect(`${url.host}${url.pathname}`).toBe(`haproxy:5432/${schema.environment!.POSTGRES_DB}`);
      // The role that can only call the ledger's functions, with the password the schema step gave it.
      expect(url.username).toBe('crebito_api');
      expect(url.password).toBe(schema.environment!.CREBITO_API_PASSWORD);
      expect(compose.services[api]!.environment!.CREBITO_ALLOW_SUPERUSER).toBeUndefined();
      expect(compose.services[api]!.depends_on).toEqual({
        'ha-schema': { condition: 'service_completed_successfully' },
      });
    }
  });

  it("creates the ledger's roles with the single-node init script, through HAProxy", () => {
    const schema = compose.services['ha-schema']!;
    expect(schema.volumes).toEqual(['./sql:/crebito-sql:ro']);
    expect(schema.command!.join(' ')).toContain('sh /crebito-sql/roles/docker-init.sh');
    expect(schema.environment!.PGHOST).toBe('haproxy');
    // Every variable the script reads (SQL is its own) is set, as the postgres image sets them for the single node.
    const script = fs.readFileSync(path.join(PROJECT_ROOT, INIT_SCRIPT), 'utf8');
    const reads = new Set(
      [...script.matchAll(/\$\{?([A-Z_]+)/g)].map((match) => match[1]!).filter((name) => name !== 'SQL'),
    );
    expect([...reads].sort()).toEqual(['CREBITO_API_PASSWORD', 'POSTGRES_DB', 'POSTGRES_USER']);
    for (const name of reads) expect(schema.environment![name], name).toBeDefined();
    expect(script).toContain('roles/create.sql');
  });
});
