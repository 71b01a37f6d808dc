// Owns every setting crebito reads from its environment, with its default and
// its bounds. Each limit is named with its unit last. A value that is present
// but malformed stops the process at start, rather than being half-understood.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding package.json, whether this file runs from src/ or dist/src/. */
function findProjectRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(directory, 'package.json'))) {
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error('cannot find the project folder (no package.json above this file)');
    directory = parent;
  }
  return directory;
}

export const PROJECT_ROOT = findProjectRoot();
/** The compiled entry points (npm run build). */
export const INSTANCE_ENTRY = path.join(PROJECT_ROOT, 'dist', 'src', 'instance.js');
export const LAUNCHER_ENTRY = path.join(PROJECT_ROOT, 'dist', 'src', 'launcher.js');

// The largest request body accepted. A valid transaction body is under 100
// bytes; 4 KiB leaves room for whitespace and unknown extra fields while
// keeping a hostile client from making us buffer much.
export const BODY_SIZE_BYTES_MAX = 4096;

export type DatabaseMode = 'durable' | 'fast';

export interface InstanceConfig {
  /** Shown in the `x-crebito-instance` response header and in logs. */
  instanceName: string;
  /** Where to listen: a TCP port on 127.0.0.1/0.0.0.0, or a unix socket path. */
  listen: ListenTarget;
  databaseUrl: string;
  poolClientsMax: number;
  /** Requests of one kind allowed to wait to join a database call before we answer 503. */
  queueLengthMax: number;
  /** How long opening a database connection may take. */
  connectTimeoutMs: number;
  /** Server-side statement_timeout and client-side query timeout. */
  queryTimeoutMs: number;
  /** How long a stopping instance waits for in-flight requests. */
  shutdownTimeoutMs: number;
  /** Most transactions sharing one database call (1: no sharing). */
  batchSizeMax: number;
  /** Most transaction calls in flight per instance. */
  batchesInFlightMax: number;
  /** Most statement queries in flight per instance. */
  readsInFlightMax: number;
}

export type ListenTarget =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };

export interface LauncherConfig {
  port: number;
  /** Set when the operator brings their own PostgreSQL. */
  databaseUrl: string | undefined;
  instanceCount: number;
  dataDirectory: string;
  databaseMode: DatabaseMode;
  embeddedPostgresPort: number;
  /** 'auto' uses nginx when it is installed; 'off' never does. */
  nginx: 'auto' | 'off';
  /** nginx worker processes. */
  nginxWorkers: number;
  /** 'unix' or 'tcp' between nginx and the instances. */
  upstreamTransport: 'unix' | 'tcp';
  /** First TCP port for the instances when upstreamTransport is 'tcp'. */
  instanceBasePort: number;
  /** Extra node options for each instance, e.g. `--cpu-prof` for profiling. */
  instanceNodeArguments: string[];
  instance: Omit<InstanceConfig, 'instanceName' | 'listen' | 'databaseUrl'>;
}

type Environment = Record<string, string | undefined>;

export function readInteger(
  environment: Environment,
  name: string,
  options: { fallback: number; min: number; max: number },
): number {
  const raw = environment[name];
  if (raw === undefined || raw === '') return options.fallback;
  if (!/^[0-9]+$/.test(raw)) {
    throw new Error(`${name} must be a whole number, got ${JSON.stringify(raw)}`);
  }
  const value = Number(raw);
  if (value < options.min || value > options.max) {
    throw new Error(`${name} must be between ${options.min} and ${options.max}, got ${value}`);
  }
  return value;
}

function readChoice<T extends string>(
  environment: Environment,
  name: string,
  options: { fallback: T; choices: readonly T[] },
): T {
  const raw = environment[name];
  if (raw === undefined || raw === '') return options.fallback;
  if (!(options.choices as readonly string[]).includes(raw)) {
    throw new Error(`${name} must be one of ${options.choices.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

function readInstanceLimits(environment: Environment): LauncherConfig['instance'] {
  const limits = {
    poolClientsMax: readInteger(environment, 'CREBITO_POOL_CLIENTS_MAX', { fallback: 4, min: 1, max: 200 }),
    queueLengthMax: readInteger(environment, 'CREBITO_QUEUE_LENGTH_MAX', { fallback: 2048, min: 0, max: 1_000_000 }),
    connectTimeoutMs: readInteger(environment, 'CREBITO_CONNECT_TIMEOUT_MS', { fallback: 5000, min: 1, max: 600_000 }),
    queryTimeoutMs: readInteger(environment, 'CREBITO_QUERY_TIMEOUT_MS', { fallback: 5000, min: 1, max: 600_000 }),
    shutdownTimeoutMs: readInteger(environment, 'CREBITO_SHUTDOWN_TIMEOUT_MS', { fallback: 10_000, min: 0, max: 600_000 }),
    batchSizeMax: readInteger(environment, 'CREBITO_BATCH_SIZE_MAX', { fallback: 64, min: 1, max: 1000 }),
    batchesInFlightMax: readInteger(environment, 'CREBITO_BATCHES_IN_FLIGHT_MAX', { fallback: 1, min: 1, max: 200 }),
    readsInFlightMax: readInteger(environment, 'CREBITO_READS_IN_FLIGHT_MAX', { fallback: 1, min: 1, max: 200 }),
  };
  // Every call in flight holds a pooled connection; more calls than
  // connections would only queue inside the pool, unbounded by our limits.
  if (limits.batchesInFlightMax + limits.readsInFlightMax > limits.poolClientsMax) {
    throw new Error(`CREBITO_BATCHES_IN_FLIGHT_MAX (${limits.batchesInFlightMax}) + CREBITO_READS_IN_FLIGHT_MAX (${limits.readsInFlightMax}) must not exceed CREBITO_POOL_CLIENTS_MAX (${limits.poolClientsMax})`);
  }
  return limits;
}

/** Parses `unix:/path/to.sock`, `host:port` or a bare port. */
export function parseListenTarget(raw: string): ListenTarget {
  if (raw.startsWith('unix:')) return { kind: 'unix', path: raw.slice('unix:'.length) };
  const match = /^(?:(.+):)?([0-9]{1,5})$/.exec(raw);
  if (match === null) throw new Error(`cannot understand listen target ${JSON.stringify(raw)}`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new Error(`port out of range in ${JSON.stringify(raw)}`);
  return { kind: 'tcp', host: match[1] ?? '0.0.0.0', port };
}

export function describeListenTarget(target: ListenTarget): string {
  return target.kind === 'unix' ? `unix:${target.path}` : `${target.host}:${target.port}`;
}

export function readInstanceConfig(environment: Environment): InstanceConfig {
  const databaseUrl = environment.DATABASE_URL;
  if (databaseUrl === undefined || databaseUrl === '') {
    throw new Error('DATABASE_URL is required for an API instance (npm start sets it for you)');
  }
  return {
    instanceName: environment.CREBITO_INSTANCE_NAME || 'api',
    listen: parseListenTarget(environment.CREBITO_LISTEN || '9999'),
    databaseUrl,
    ...readInstanceLimits(environment),
  };
}

export function readLauncherConfig(environment: Environment): LauncherConfig {
  return {
    port: readInteger(environment, 'PORT', { fallback: 9999, min: 1, max: 65535 }),
    databaseUrl: environment.DATABASE_URL || undefined,
    instanceCount: readInteger(environment, 'CREBITO_INSTANCES', { fallback: 2, min: 1, max: 32 }),
    dataDirectory: path.resolve(environment.CREBITO_DATA_DIR || path.join(PROJECT_ROOT, '.data')),
    databaseMode: readChoice(environment, 'CREBITO_DATABASE_MODE', { fallback: 'durable', choices: ['durable', 'fast'] }),
    embeddedPostgresPort: readInteger(environment, 'CREBITO_POSTGRES_PORT', { fallback: 54329, min: 1, max: 65535 }),
    nginx: readChoice(environment, 'CREBITO_NGINX', { fallback: 'auto', choices: ['auto', 'off'] }),
    nginxWorkers: readInteger(environment, 'CREBITO_NGINX_WORKERS', { fallback: 1, min: 1, max: 64 }),
    upstreamTransport: readChoice(environment, 'CREBITO_UPSTREAM', { fallback: 'unix', choices: ['unix', 'tcp'] }),
    instanceBasePort: readInteger(environment, 'CREBITO_INSTANCE_BASE_PORT', { fallback: 9101, min: 1, max: 65535 }),
    instanceNodeArguments: (environment.CREBITO_INSTANCE_NODE_ARGS ?? '').split(' ').filter((argument) => argument !== ''),
    instance: readInstanceLimits(environment),
  };
}
