// The resource limits the public test runs crebito under, read from
// docker-compose.yml, where they are declared once: CPUs and memory for
// nginx, each API instance and PostgreSQL. Each compose service is matched
// with the process of the local stack that plays its part: the API services
// by the instance name their environment gives them.

import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../../../src/stack/paths.js';

export const COMPOSE_FILE = path.join(PROJECT_ROOT, 'docker-compose.yml');

export interface ComponentLimits {
  /** The local stack's name for it, as the bench's process groups are named: nginx, api-1, api-2, postgres. */
  component: string;
  /** The compose service it stands for. */
  service: string;
  cpus: number;
  memoryBytes: number;
}

interface Service {
  image?: string;
  build?: string;
  environment?: Record<string, string>;
  profiles?: string[];
  deploy?: { resources?: { limits?: { cpus?: string; memory?: string } } };
}

// Docker reads memory sizes in powers of 1024, whatever the case of the unit.
const UNIT_BYTES: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
};

export function parseMemoryBytes(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = UNIT_BYTES[(match?.[2] ?? '').toLowerCase()];
  if (match === null || unit === undefined)
    throw new Error(`cannot read the memory size ${JSON.stringify(text)} in ${COMPOSE_FILE}`);
  return Math.round(Number(match[1]) * unit);
}

function componentOf(name: string, service: Service): string {
  if (service.image?.startsWith('nginx')) return 'nginx';
  if (service.image?.startsWith('postgres')) return 'postgres';
  const instanceName = service.environment?.CREBITO_INSTANCE_NAME;
  if (service.build !== undefined && instanceName !== undefined) return instanceName;
  throw new Error(`${COMPOSE_FILE}: cannot tell which part of the stack service ${name} is`);
}

/**
 * The limits of every service a plain `docker compose up` starts, in the
 * file's order; one without both limits is an error. Services of a profile
 * (observability) are outside the public test's budget, and not crebito.
 */
export function readComposeLimits(file = COMPOSE_FILE): ComponentLimits[] {
  const compose = parse(fs.readFileSync(file, 'utf8'), { merge: true }) as { services: Record<string, Service> };
  return Object.entries(compose.services)
    .filter(([, service]) => service.profiles === undefined)
    .map(([name, service]) => {
      const limits = service.deploy?.resources?.limits;
      const cpus = Number(limits?.cpus);
      if (!(cpus > 0) || limits?.memory === undefined)
        throw new Error(`${file}: service ${name} declares no cpus and memory limits`);
      return {
        component: componentOf(name, service),
        service: name,
        cpus,
        memoryBytes: parseMemoryBytes(limits.memory),
      };
    });
}
