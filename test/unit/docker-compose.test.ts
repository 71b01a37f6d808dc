// There is no Docker engine on these machines, so the compose stack is checked
// as files: limits, ports, images, mounts and health checks in
// docker-compose.yml, the nginx configuration it mounts, and the Dockerfile.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INSTANCE_ENTRY, PROJECT_ROOT } from '../../src/stack/paths.js';
import { connectionsPerInstance } from '../../src/stack/config.js';
import { DOCKER_NGINX_VALUES, DOCKER_RESOLVER_INCLUDE_PATH } from '../../src/stack/nginx.js';
import { DOCKER_NGINX_FILE } from '../../tools/generate/docker-nginx.js';
import { PublisherMetrics } from '../../src/events/publisher/metrics.js';

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  ulimits?: { nofile?: { soft: number; hard: number } };
  profiles?: string[];
  deploy?: { resources?: { limits?: { cpus?: string; memory?: string } } };
}

const compose = parse(fs.readFileSync(path.join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
// What a plain `docker compose up` starts: the services of no profile.
const services = Object.fromEntries(
  Object.entries(compose.services).filter(([, service]) => service.profiles === undefined),
);
const observability = Object.fromEntries(
  Object.entries(compose.services).filter(([, service]) => service.profiles?.includes('observability')),
);
const events = Object.fromEntries(
  Object.entries(compose.services).filter(([, service]) => service.profiles?.includes('events')),
);
const dockerfile = fs.readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');

const MEGABYTES: Record<string, number> = {
  b: 1 / (1024 * 1024),
  k: 1 / 1024,
  kb: 1 / 1024,
  m: 1,
  mb: 1,
  g: 1024,
  gb: 1024,
};
function megabytes(text: string): number {
  const match = /^([0-9.]+)\s*([a-z]*)$/i.exec(text.trim());
  if (match === null) throw new Error(`cannot read memory size ${text}`);
  return Number(match[1]) * (MEGABYTES[(match[2] || 'b').toLowerCase()] ?? NaN);
}

describe('docker-compose.yml', () => {
  it('has nginx, two API instances and PostgreSQL', () => {
    expect(Object.keys(services).sort()).toEqual(['api1', 'api2', 'db', 'nginx']);
  });

  it('declares limits on every service adding up to at most 1.5 CPU and 550 MB', () => {
    let cpus = 0;
    let memory = 0;
    for (const [name, service] of Object.entries(services)) {
      const limits = service.deploy?.resources?.limits;
      expect(limits?.cpus, `${name} cpus`).toBeDefined();
      expect(limits?.memory, `${name} memory`).toBeDefined();
      cpus += Number(limits!.cpus);
      memory += megabytes(limits!.memory!);
    }
    expect(cpus).toBeLessThanOrEqual(1.5);
    expect(memory).toBeLessThanOrEqual(550);
  });

  it('publishes port 9999 from nginx only', () => {
    expect(services.nginx!.ports).toEqual(['9999:9999']);
    for (const name of ['api1', 'api2', 'db']) expect(services[name]!.ports).toBeUndefined();
  });

  it('gives every service a health check', () => {
    for (const [name, service] of Object.entries(services)) expect(service.healthcheck?.test, name).toBeDefined();
  });

  it('builds both instances from this repository, each with its own name, on one database', () => {
    for (const name of ['api1', 'api2']) {
      expect(services[name]!.build).toBe('.');
      expect(services[name]!.environment!.DATABASE_URL).toMatch(/@db:5432\//);
      // The role that can only call the ledger's functions, never the init scripts' superuser.
      expect(services[name]!.environment!.DATABASE_URL).toMatch(/^postgresql:\/\/crebito_api:/);
      expect(services[name]!.environment!.CREBITO_LISTEN).toBe('0.0.0.0:8080');
    }
    expect(services.api1!.environment!.CREBITO_INSTANCE_NAME).not.toBe(
      services.api2!.environment!.CREBITO_INSTANCE_NAME,
    );
  });

  it('mounts sql/ as PostgreSQL init scripts and keeps commits durable', () => {
    expect(services.db!.image).toMatch(/^postgres:/);
    expect(services.db!.volumes).toEqual(
      expect.arrayContaining([
        './sql:/crebito-sql:ro',
        './sql/roles/docker-init.sh:/docker-entrypoint-initdb.d/crebito.sh:ro',
      ]),
    );
    const command = services.db!.command!.join(' ');
    expect(command).toContain('fsync=on');
    expect(command).toContain('synchronous_commit=on');
    // Both instances' connections at their most (pool, breaker probe, keys' poll) must fit in max_connections.
    const maxConnections = Number(/max_connections=(\d+)/.exec(command)![1]);
    const connections = ['api1', 'api2'].map((name) => {
      const environment = services[name]!.environment!;
      return connectionsPerInstance({
        poolClientsMax: Number(environment.CREBITO_POOL_CLIENTS_MAX),
        auth: environment.CREBITO_AUTH === 'keys' ? 'keys' : 'off',
      });
    });
    expect(connections[0]! + connections[1]!).toBeLessThan(maxConnections);
  });

  it('mounts the nginx configuration rendered from the same template as npm start', () => {
    expect(services.nginx!.image).toMatch(/^nginx:/);
    expect(services.nginx!.volumes).toContain('./nginx/nginx.docker.conf:/etc/nginx/nginx.conf:ro');
    // If this fails after editing the template: npm run generate
    expect(fs.readFileSync(DOCKER_NGINX_FILE.path, 'utf8')).toBe(DOCKER_NGINX_FILE.render(''));
    expect(DOCKER_NGINX_VALUES.upstreamAddresses).toEqual(['api1:8080', 'api2:8080']);
  });
});

describe('docker-compose.yml, events profile', () => {
  it('adds RabbitMQ and the publisher only under the profile; the publisher reads the slot as the superuser and publishes to that RabbitMQ', () => {
    expect(Object.keys(events).sort()).toEqual(['events', 'rabbitmq']);
    const environment = events.events!.environment!;
    expect(environment.CREBITO_EVENTS_URL).toMatch(/^amqp:\/\/[^@]+@rabbitmq:5672$/);
    const database = new URL(environment.CREBITO_EVENTS_DATABASE_URL!);
    expect([database.username, database.hostname]).toEqual([services.db!.environment!.POSTGRES_USER, 'db']);
    expect(services.db!.volumes).toContain(
      './sql/roles/events-replication.sh:/docker-entrypoint-initdb.d/events.sh:ro',
    );
  });

  it('runs the database with logical decoding and a bound on the WAL a stalled stream holds back', () => {
    expect(services.db!.command).toEqual(expect.arrayContaining(['wal_level=logical', 'max_slot_wal_keep_size=1GB']));
  });

  it('builds the publisher from a Dockerfile whose tsconfig holds it', () => {
    const dockerfileEvents = fs.readFileSync(path.join(PROJECT_ROOT, 'Dockerfile.events'), 'utf8');
    expect(dockerfileEvents).toContain('tsconfig.events.json');
    expect(dockerfileEvents).toContain('dist/src/events/publisher/main.js');
    // And the recovery of a lost slot, run in the same image (docs/events.md).
    const tsconfig = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'tsconfig.events.json'), 'utf8')) as {
      include: string[];
    };
    expect(tsconfig.include).toContain('src/events/recover*.ts');
    expect(fs.existsSync(path.join(PROJECT_ROOT, 'src', 'events', 'recover-main.ts'))).toBe(true);
  });
});

describe('docker-compose.yml, observability profile', () => {
  it('adds Prometheus and Grafana only under the profile, outside the budget', () => {
    expect(Object.keys(observability).sort()).toEqual(['grafana', 'prometheus']);
    expect(Object.keys(compose.services).sort()).toEqual([
      'api1',
      'api2',
      'db',
      'events',
      'grafana',
      'nginx',
      'prometheus',
      'rabbitmq',
    ]);
  });

  it("has each instance and the stream's publisher serve /metrics on its admin port, and Prometheus scrape exactly those", () => {
    const scrape = parse(
      fs.readFileSync(path.join(PROJECT_ROOT, 'observability', 'prometheus', 'prometheus.yml'), 'utf8'),
    ) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
    const targets = scrape.scrape_configs.flatMap((config) => config.static_configs.flatMap((group) => group.targets));
    const port = (listen: string | undefined) => listen!.split(':')[1];
    expect(targets.sort()).toEqual([
      ...['api1', 'api2'].map((name) => `${name}:${port(services[name]!.environment!.CREBITO_ADMIN_LISTEN)}`),
      `events:${port(events.events!.environment!.CREBITO_EVENTS_ADMIN_LISTEN)}`,
    ]);
    expect(observability.prometheus!.volumes).toContain(
      './observability/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
    );
  });

  it("has the dashboard read only series the stream's publisher serves", async () => {
    const dashboard = fs.readFileSync(
      path.join(PROJECT_ROOT, 'observability', 'grafana', 'dashboards', 'crebito.json'),
      'utf8',
    );
    const read = new Set(dashboard.match(/crebito_events_\w+/g));
    const served = new Set(
      [...(await new PublisherMetrics().render()).matchAll(/^(crebito_events_\w+?)(?:\{| )/gm)].map(
        (match) => match[1],
      ),
    );
    expect(read.size).toBeGreaterThanOrEqual(8);
    expect([...read].filter((name) => !served.has(name))).toEqual([]);
  });

  it("provisions Grafana with the Prometheus data source and the repository's dashboards", () => {
    expect(observability.grafana!.volumes).toEqual(
      expect.arrayContaining([
        './observability/grafana/provisioning:/etc/grafana/provisioning:ro',
        './observability/grafana/dashboards:/var/lib/grafana/dashboards:ro',
      ]),
    );
    const datasource = parse(
      fs.readFileSync(
        path.join(PROJECT_ROOT, 'observability', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'),
        'utf8',
      ),
    ) as { datasources: { uid: string; url: string }[] };
    expect(datasource.datasources[0]).toMatchObject({ uid: 'prometheus', url: 'http://prometheus:9090' });
  });

  it('checks instance health by readiness (the database answers), not only liveness', () => {
    for (const name of ['api1', 'api2']) expect(services[name]!.healthcheck!.test.join(' ')).toContain('/ready');
  });

  it('regression: a restarted API container never rejoined; nginx resolves the names again, on an nginx that can', () => {
    // `server ... resolve` is in open-source nginx from 1.27.3: the image must name such a version exactly.
    const version = /^nginx:(\d+)\.(\d+)\.(\d+)-alpine$/.exec(services.nginx!.image!);
    expect(version, services.nginx!.image).not.toBeNull();
    const [major, minor, patch] = version!.slice(1).map(Number);
    expect(major! * 1_000_000 + minor! * 1000 + patch!).toBeGreaterThanOrEqual(1_027_003);
    const upstream = /upstream crebito_api \{([^}]*)\}/.exec(fs.readFileSync(DOCKER_NGINX_FILE.path, 'utf8'))![1]!;
    expect(upstream).toMatch(/^\s*zone crebito_api \d+k;$/m);
    // The resolver line nginx's command writes before it starts (next test).
    expect(upstream).toContain(`include ${DOCKER_RESOLVER_INCLUDE_PATH};`);
    const servers = upstream.split('\n').filter((line) => line.trim().startsWith('server '));
    expect(servers.map((line) => line.trim().split(/\s+/)[1])).toEqual(['api1:8080', 'api2:8080']);
    for (const line of servers) expect(line).toMatch(/ resolve;$/);
  });

  it("regression: under podman nginx asked 127.0.0.11, where no DNS server answers; it asks resolv.conf's nameserver", async () => {
    const command = services.nginx!.command!;
    expect(command.slice(0, 2)).toEqual(['sh', '-c']);
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-resolver-'));
    /** Runs nginx's command against this resolv.conf, with `exec nginx` replaced by a marker; the resolver line, or null on failure. */
    const resolverFor = (resolvConf: string) =>
      new Promise<string | null>((resolve) => {
        fs.writeFileSync(path.join(directory, 'resolv.conf'), resolvConf);
        const output = path.join(directory, 'resolver.conf');
        fs.rmSync(output, { force: true });
        const script = command[2]!
          .replaceAll('$$', '$')
          .replace('/etc/resolv.conf', path.join(directory, 'resolv.conf'))
          .replaceAll(DOCKER_RESOLVER_INCLUDE_PATH, output)
          .replace(/exec nginx -c \/etc\/nginx\/nginx\.conf$/, 'echo nginx started');
        expect(script).toContain('nginx started');
        execFile('sh', ['-c', script], { timeout: 10_000 }, (error, stdout) => {
          resolve(error === null && stdout.trim() === 'nginx started' ? fs.readFileSync(output, 'utf8').trim() : null);
        });
      });
    try {
      // Docker: its embedded DNS server.
      expect(await resolverFor('nameserver 127.0.0.11\nsearch example.org\noptions ndots:0\n')).toBe(
        'resolver 127.0.0.11 valid=1s ipv6=off;',
      );
      // podman (netavark): aardvark-dns on the network's gateway, then the host's servers; an IPv6 one first is skipped.
      expect(
        await resolverFor('search dns.podman\nnameserver fd00::1\nnameserver 10.89.0.1\nnameserver 10.255.255.53\n'),
      ).toBe('resolver 10.89.0.1 valid=1s ipv6=off;');
      // No nameserver: nginx does not start with upstreams it could never resolve.
      expect(await resolverFor('search example.org\n')).toBeNull();
    } finally {
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  it("regression: nginx's 4096 worker connections exceeded its 1024 open files; it may open two per connection", () => {
    const config = fs.readFileSync(DOCKER_NGINX_FILE.path, 'utf8');
    const connections = Number(/worker_connections (\d+);/.exec(config)![1]);
    expect(Number(/worker_rlimit_nofile (\d+);/.exec(config)![1])).toBeGreaterThanOrEqual(2 * connections);
    expect(services.nginx!.ulimits?.nofile?.soft).toBeGreaterThanOrEqual(2 * connections);
  });
});

describe('regression: the API health check started a second Node.js process every 5 s', () => {
  const test = () => services.api1!.healthcheck!.test;
  /** The check's shell command as compose runs it ($$ is a literal $), against another port. */
  const probeOn = (port: number) =>
    test()[3]!.replaceAll('$$', '$').replace('/dev/tcp/127.0.0.1/8080', `/dev/tcp/127.0.0.1/${port}`);

  it('runs bash, already in the image, not node', () => {
    expect(test().slice(0, 3)).toEqual(['CMD', 'bash', '-c']);
    expect(test().join(' ')).not.toMatch(/\bnode\b/);
  });

  it('passes on a 200 from /ready, and fails on a 503 or on nothing listening', async () => {
    const statuses: number[] = [200, 503];
    const server = http.createServer((request, response) => {
      response.statusCode = request.url === '/ready' ? statuses[0]! : 404;
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const run = () =>
        new Promise<number | null>((resolve) =>
          execFile('bash', ['-c', probeOn(port)], { timeout: 10_000 }, (error) =>
            resolve(error === null ? 0 : ((error.code as number) ?? 1)),
          ),
        );
      expect(await run()).toBe(0);
      statuses.shift();
      expect(await run()).not.toBe(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const nothing = await new Promise<number>((resolve) =>
      execFile('bash', ['-c', probeOn(port)], { timeout: 10_000 }, (error) => resolve(error === null ? 0 : 1)),
    );
    expect(nothing).not.toBe(0);
  });
});

describe('Dockerfile', () => {
  it('installs from the lockfile with npm ci', () => {
    expect(dockerfile).toMatch(/COPY package\.json package-lock\.json \.\//);
    expect(dockerfile).toMatch(/RUN npm ci\b/);
  });

  it('builds and ships only the instance: its folder and the shared one, compiled alone', () => {
    const copied = dockerfile
      .split('\n')
      .filter((line) => /^COPY (?!--from)/.test(line))
      .map((line) => line.split(/\s+/)[1]);
    expect(copied).toEqual(['package.json', 'tsconfig.json', 'src/instance', 'src/shared']);
    expect(dockerfile).toMatch(/RUN npm run build:instance\b/);
    // tsconfig.instance.json compiles src/instance and src/shared alone, so an
    // import of the launcher or the tools from the instance fails npm test's
    // typecheck before it could fail a docker build.
    const instanceConfig = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'tsconfig.instance.json'), 'utf8'));
    expect(instanceConfig.include).toEqual(['src/instance/**/*.ts', 'src/shared/**/*.ts']);
  });

  it('runs the instance entry point the launcher runs for each instance', () => {
    expect(dockerfile).toContain(`CMD ["node", "${path.relative(PROJECT_ROOT, INSTANCE_ENTRY)}"]`);
  });

  it('uses a Node.js image on glibc 2.36 (Debian bookworm), where the uWebSockets.js build loads', () => {
    for (const line of dockerfile.split('\n').filter((candidate) => candidate.startsWith('FROM '))) {
      expect(line).toMatch(/^FROM node:20-bookworm-slim/);
    }
  });
});
