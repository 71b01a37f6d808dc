// Owns nginx for the local stack: finding the binary on this machine,
// rendering nginx/nginx.conf.template with this run's ports and paths, and
// checking the result with `nginx -t` before starting it.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { failures } from '../shared/failures.js';
import { BODY_SIZE_BYTES_MAX } from '../shared/limits.js';
import { readSettings, type Environment } from '../shared/settings.js';
import { findExecutable } from './executables.js';
import { PROJECT_ROOT } from './paths.js';

export const NGINX_TEMPLATE_PATH = path.join(PROJECT_ROOT, 'nginx', 'nginx.conf.template');
// How long nginx waits for an instance's answer. The launcher checks that no
// instance can hold a request longer (config.ts: CREBITO_REQUEST_TIMEOUT_MS below this).
export const PROXY_READ_TIMEOUT_MS = 10_000;
const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/opt/homebrew/bin/nginx', '/usr/local/bin/nginx'];

export interface NginxValues {
  port: number;
  runDirectory: string;
  workerProcesses: string;
  /** Each entry is an nginx upstream address: `unix:/path.sock` or `host:port`. */
  upstreamAddresses: string[];
  /** Requests per second per client address; 0: no limit. */
  rateLimitPerS: number;
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
  if (rateLimitPerS === 0) return { RATE_LIMIT_ZONE: '    # (off)', RATE_LIMIT: '            # (no rate limit)' };
  return {
    RATE_LIMIT_ZONE: `    limit_req_zone $binary_remote_addr zone=per_client:10m rate=${rateLimitPerS}r/s;`,
    RATE_LIMIT: [
      `            limit_req zone=per_client burst=${rateLimitPerS} nodelay;`,
      '            limit_req_status 429;',
      '            limit_req_log_level info;',
    ].join('\n'),
  };
}

/** The nginx binary: NGINX_BINARY (a setting), then PATH, then the usual install places. */
export function findNginx(environment: Environment = process.env): string | undefined {
  return readSettings(environment, ['nginxBinary']).nginxBinary ?? findExecutable('nginx', NGINX_CANDIDATES, environment);
}

export function renderNginxConfig(values: NginxValues, template = fs.readFileSync(NGINX_TEMPLATE_PATH, 'utf8')): string {
  const replacements: Record<string, string> = {
    PORT: String(values.port),
    RUN_DIRECTORY: values.runDirectory,
    WORKER_PROCESSES: values.workerProcesses,
    BODY_SIZE_BYTES_MAX: String(BODY_SIZE_BYTES_MAX),
    PROXY_READ_TIMEOUT_MS: String(PROXY_READ_TIMEOUT_MS),
    ...rateLimitLines(values.rateLimitPerS),
    BODY_TOO_LARGE_JSON: nginxString(failures.bodyTooLarge.body),
    HEADERS_TOO_LARGE_JSON: nginxString(failures.headersTooLarge.body),
    TOO_MANY_REQUESTS_JSON: nginxString(failures.tooManyRequests.body),
    UPSTREAM_SERVERS: values.upstreamAddresses
      .map((address) => `        server ${address} max_fails=1 fail_timeout=1s;`)
      .join('\n'),
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
};
export const DOCKER_NGINX_CONFIG_PATH = path.join(PROJECT_ROOT, 'nginx', 'nginx.docker.conf');
