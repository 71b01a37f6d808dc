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

interface Service { profiles?: string[]; command?: string[]; volumes?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { condition: string }> }

const compose = parse(fs.readFileSync(path.join(PROJECT_ROOT, 'docker-compose.ha.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };

describe('docker-compose.ha.yml', () => {
  it('adds etcd, three Patroni nodes, HAProxy and the schema step, all in the ha profile', () => {
    const profiled = Object.entries(compose.services).filter(([, service]) => service.profiles?.includes('ha')).map(([name]) => name).sort();
    expect(profiled).toEqual(['etcd', 'ha-schema', 'haproxy', 'pg1', 'pg2', 'pg3']);
  });

  it('starts etcd with its v2 API, the backend the nodes use', () => {
    expect(compose.services.etcd!.command).toContain('--enable-v2=true');
    for (const node of ['pg1', 'pg2', 'pg3']) {
      const config = JSON.parse(fs.readFileSync(path.join(DOCKER_HA_DIRECTORY, `${node}.yml`), 'utf8')) as Record<string, unknown>;
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

  it('points both API instances at HAProxy, after the schema step', () => {
    for (const api of ['api1', 'api2']) {
      expect(compose.services[api]!.environment!.DATABASE_URL).toMatch(/@haproxy:5432\/crebito$/);
      expect(compose.services[api]!.depends_on).toEqual({ 'ha-schema': { condition: 'service_completed_successfully' } });
    }
  });
});
