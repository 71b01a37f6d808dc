// Owns nginx for the local stack: finding the binary on this machine,
// rendering nginx/nginx.conf.template with this run's ports and paths, and
// checking the result with `nginx -t` before starting it.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { failures } from '../shared/failures.js';
import { BODY_SIZE_BYTES_MAX } from '../shared/limits.js';
import { readSettings, SETTINGS, type Environment } from '../shared/settings.js';
import { findExecutable } from './executables.js';
import { PROJECT_ROOT } from './paths.js';

export const NGINX_TEMPLATE_PATH = path.join(PROJECT_ROOT, 'nginx', 'nginx.conf.template');
// How much longer than an instance's own deadline nginx waits for its answer
// before giving up on it: room for a busy event loop, short enough that a
// frozen instance costs a client little more than the deadline itself.
export const UPSTREAM_MARGIN_MS = 250;
// How long nginx skips an instance that failed or timed out (see the template).
export const UPSTREAM_FAIL_TIMEOUT_S = 3;
// Where docker-compose.yml's nginx command writes the upstream's `resolver`
// line before nginx starts: the engine's DNS server, which follows containers
// as they restart, is 127.0.0.11 under Docker but the network's gateway under
// podman, and only /etc/resolv.conf says which; nginx cannot read that file.
export const DOCKER_RESOLVER_INCLUDE_PATH = '/tmp/nginx-resolver.conf';
const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/opt/homebrew/bin/nginx', '/usr/local/bin/nginx'];

export interface NginxValues {
  port: number;
  runDirectory: string;
  workerProcesses: string;
  /** Each entry is an nginx upstream address: `unix:/path.sock` or `host:port`. */
  upstreamAddresses: string[];
  /** Requests per second per client address; 0: no limit. */
  rateLimitPerS: number;
  /** The instances' deadline (CREBITO_REQUEST_TIMEOUT_MS): nginx's own timeouts derive from it. */
  requestTimeoutMs: number;
  /** Names to resolve again as containers restart (docker compose), or fixed addresses (npm start). */
  upstreamNames: 'resolve' | 'fixed';
  /** The user and group nginx's workers run as, when nginx starts as root; undefined: nginx's default. */
  workerUser: { user: string; group: string } | undefined;
}

/** How long nginx waits for an instance: its deadline and a margin (worstRequestTimeMs is what the launcher checks). */
export function upstreamTimeoutMs(requestTimeoutMs: number): number {
  return requestTimeoutMs + UPSTREAM_MARGIN_MS;
}

/** A body for nginx's `return`, in single quotes: it must not hold one itself. */
function nginxString(text: string): string {
  if (text.includes("'") || text.includes('\\')) throw new Error(`cannot put ${text} in an nginx string`);
  return text;
}

/**
 * The zone (http level) and the limit (location level). A burst of one
 * second's worth passes at once; past it, 429 with Retry-After. Refusals are
 * logged at info, below error_log's level: a flood must not flood the log.
 */
function rateLimitLines(rateLimitPerS: number): { RATE_LIMIT_ZONE: string; RATE_LIMIT: string } {
  if (rateLimitPerS === 0) return { RATE_LIMIT_ZONE: '    # (off)', RATE_LIMIT: '        # (no rate limit)' };
  return {
    RATE_LIMIT_ZONE: `    limit_req_zone $binary_remote_addr zone=per_client:10m rate=${rateLimitPerS}r/s;`,
    RATE_LIMIT: [
      `        limit_req zone=per_client burst=${rateLimitPerS} nodelay;`,
      '        limit_req_status 429;',
      '        limit_req_log_level info;',
    ].join('\n'),
  };
}

/** The nginx binary: NGINX_BINARY (a setting), then PATH, then the usual install places. */
export function findNginx(environment: Environment = process.env): string | undefined {
  return readSettings(environment, ['nginxBinary']).nginxBinary ?? findExecutable('nginx', NGINX_CANDIDATES, environment);
}

/**
 * The upstream's servers. Container names are resolved again as containers
 * restart (a restarted container gets a new address): `resolve` needs a
 * shared zone and a resolver, and open-source nginx has it from 1.27.3 on
 * (docker-compose.yml names such an image). Unix sockets and fixed ports
 * need neither, and nginx 1.22 has neither.
 */
function upstreamServerLines(values: NginxValues): string {
  const servers = values.upstreamAddresses.map((address) => `        server ${address} max_fails=1 fail_timeout=${UPSTREAM_FAIL_TIMEOUT_S}s${values.upstreamNames === 'resolve' ? ' resolve' : ''};`);
  if (values.upstreamNames === 'fixed') return servers.join('\n');
  return [
    '        zone crebito_api 64k;',
    `        include ${DOCKER_RESOLVER_INCLUDE_PATH};`,
    '        resolver_timeout 1s;',
    ...servers,
  ].join('\n');
}

/** The catalogue's bodies nginx answers itself. */
function refusalBodies(): Record<string, string> {
  return {
    BAD_REQUEST_JSON: nginxString(failures.badRequest.body),
    URI_TOO_LONG_JSON: nginxString(failures.uriTooLong.body),
    BODY_TOO_LARGE_JSON: nginxString(failures.bodyTooLarge.body),
    HEADERS_TOO_LARGE_JSON: nginxString(failures.headersTooLarge.body),
    TOO_MANY_REQUESTS_JSON: nginxString(failures.tooManyRequests.body),
    INSTANCE_FAILED_JSON: nginxString(failures.instanceFailed.body),
    INSTANCE_TIMED_OUT_JSON: nginxString(failures.instanceTimedOut.body),
  };
}

export function renderNginxConfig(values: NginxValues, template = fs.readFileSync(NGINX_TEMPLATE_PATH, 'utf8')): string {
  const replacements: Record<string, string> = {
    PORT: String(values.port),
    RUN_DIRECTORY: values.runDirectory,
    WORKER_PROCESSES: values.workerProcesses,
    WORKER_USER: values.workerUser === undefined ? '# (workers run as nginx starts them)' : `user ${values.workerUser.user} ${values.workerUser.group};`,
    BODY_SIZE_BYTES_MAX: String(BODY_SIZE_BYTES_MAX),
    UPSTREAM_TIMEOUT_MS: String(upstreamTimeoutMs(values.requestTimeoutMs)),
    UPSTREAM_CONNECT_TIMEOUT_MS: String(UPSTREAM_MARGIN_MS),
    UPSTREAM_FAIL_TIMEOUT_S: String(UPSTREAM_FAIL_TIMEOUT_S),
    ...rateLimitLines(values.rateLimitPerS),
    ...refusalBodies(),
    UPSTREAM_SERVERS: upstreamServerLines(values),
  };
  return template.replace(/\$\{([A-Z_]+)\}/g, (placeholder, name: string) => {
    const value = replacements[name];
    if (value === undefined) throw new Error(`nginx template uses unknown placeholder ${placeholder}`);
    return value;
  });
}

/** Writes the rendered configuration and has nginx check it; throws with nginx's own words. */
export function writeNginxConfig(binary: string, values: NginxValues): string {
  const configPath = path.join(values.runDirectory, 'nginx.conf');
  fs.writeFileSync(configPath, renderNginxConfig(values));
  const check = spawnSync(binary, ['-t', '-q', '-p', values.runDirectory, '-c', configPath], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx rejected ${configPath}:\n${check.stderr.trim()}`);
  return configPath;
}

/** The values nginx/nginx.docker.conf is rendered with, for docker-compose.yml. */
export const DOCKER_NGINX_VALUES: NginxValues = {
  port: 9999,
  runDirectory: '/tmp',
  workerProcesses: '1',
  upstreamAddresses: ['api1:8080', 'api2:8080'],
  rateLimitPerS: 0,
  requestTimeoutMs: SETTINGS.requestTimeoutMs.default,
  upstreamNames: 'resolve',
  // The image's nginx starts as root and runs its workers as its own user.
  workerUser: undefined,
};
export const DOCKER_NGINX_CONFIG_PATH = path.join(PROJECT_ROOT, 'nginx', 'nginx.docker.conf');
