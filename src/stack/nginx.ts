// Owns nginx for the local stack: finding the binary on this machine,
// rendering nginx/nginx.conf.template with this run's ports and paths, and
// checking the result with `nginx -t` before starting it.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { failures, statusCodeOf, type Failure } from '../shared/failures.js';
import { BODY_SIZE_BYTES_MAX } from '../shared/limits.js';
import { readSettings, SETTINGS, type Environment } from '../shared/settings.js';
import { findExecutable } from './executables.js';
import { PROJECT_ROOT } from './paths.js';
import type { TlsPlan } from './tls.js';

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
const NGINX_CANDIDATES = [
  '/usr/sbin/nginx',
  '/usr/local/sbin/nginx',
  '/usr/local/nginx/sbin/nginx',
  '/opt/homebrew/bin/nginx',
  '/usr/local/bin/nginx',
];

export interface NginxValues {
  port: number;
  runDirectory: string;
  workerProcesses: string;
  /** Each entry is an nginx upstream address: `unix:/path.sock` or `host:port`. */
  upstreamAddresses: string[];
  /** Requests per second per client address; 0: no limit. */
  rateLimitPerS: number;
  /** What the limit counts by: the client's address, or its API key (CREBITO_AUTH=keys; the address when it sends none). */
  rateLimitBy: 'address' | 'key';
  /** The instances' deadline (CREBITO_REQUEST_TIMEOUT_MS): nginx's own timeouts derive from it. */
  requestTimeoutMs: number;
  /** Names to resolve again as containers restart (docker compose), or fixed addresses (npm start). */
  upstreamNames: 'resolve' | 'fixed';
  /** The user and group nginx's workers run as, when nginx starts as root; undefined: nginx's default. */
  workerUser: { user: string; group: string } | undefined;
  /** HTTPS beside the plain port; undefined: plain HTTP only. */
  tls: (TlsPlan & { http2: Http2Style }) | undefined;
}

/**
 * How an nginx turns HTTP/2 on: the `http2` directive from 1.25.1 on (the
 * listen parameter is deprecated there), the listen parameter before (1.22,
 * Debian bookworm's, has no directive).
 */
export type Http2Style = 'directive' | 'listen-parameter';
const HTTP2_DIRECTIVE_SINCE = [1, 25, 1];

/** The HTTP/2 style of an nginx binary, from `nginx -v`. */
export function http2StyleOf(binary: string): Http2Style {
  const said = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  const match = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(`${said.stderr}${said.stdout}`);
  if (match === null) throw new Error(`cannot read the version of ${binary} from: ${said.stderr.trim()}`);
  const version = match.slice(1).map(Number);
  for (let index = 0; index < HTTP2_DIRECTIVE_SINCE.length; index++) {
    if (version[index] !== HTTP2_DIRECTIVE_SINCE[index])
      return version[index]! > HTTP2_DIRECTIVE_SINCE[index]! ? 'directive' : 'listen-parameter';
  }
  return 'directive';
}

// Mozilla's "intermediate" TLS profile: TLS 1.2 and 1.3, forward-secret AEAD
// suites only, the client's preference (every suite here is strong, and a
// phone without AES hardware picks ChaCha20). The DHE suites of that profile
// are left out: they need a dhparam file, and every client that speaks TLS
// 1.2 also speaks ECDHE.
const TLS_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
// One shared session cache for every worker: about 4000 sessions per MiB.
const TLS_SESSION_CACHE_MB = 10;
const TLS_SESSION_TIMEOUT = '1d';
// Sent once plain HTTP is redirected or refused: browsers then never try it.
const HSTS_MAX_AGE_S = 31_536_000;

const HSTS_HEADER = `add_header Strict-Transport-Security "max-age=${HSTS_MAX_AGE_S}" always;`;

/** The header again in a location that adds headers of its own: nginx inherits add_header only into locations that add none. */
function hstsInPage(tls: NginxValues['tls']): string {
  return sendsHsts(tls) ? `            ${HSTS_HEADER}` : '            # (no HSTS: plain HTTP is served)';
}

/** nginx's `return` of a catalogue refusal: its status code and body. */
function returnRefusal(failure: Failure): string {
  return `return ${statusCodeOf(failure)} '${nginxString(failure.body)}';`;
}

/** Whether answers carry HSTS: once plain HTTP is redirected or refused, never while it is served. */
const sendsHsts = (tls: NginxValues['tls']) => tls !== undefined && tls.plainHttp !== 'keep';

/** The server block's HTTPS lines: the second listen, the certificate, protocols and ciphers, and what plain HTTP gets. */
function tlsLines(tls: NginxValues['tls']): string {
  if (tls === undefined) return '        # (no TLS: CREBITO_TLS_CERT and CREBITO_TLS_KEY unset)';
  const lines = [
    tls.http2 === 'directive'
      ? `        listen ${tls.port} ssl backlog=4096;`
      : `        listen ${tls.port} ssl http2 backlog=4096;`,
    ...(tls.http2 === 'directive' ? ['        http2 on;'] : []),
    `        ssl_certificate ${nginxPath(tls.certificatePath)};`,
    `        ssl_certificate_key ${nginxPath(tls.keyPath)};`,
    '        ssl_protocols TLSv1.2 TLSv1.3;',
    `        ssl_ciphers ${TLS_CIPHERS};`,
    '        ssl_prefer_server_ciphers off;',
    '        ssl_ecdh_curve X25519:prime256v1:secp384r1;',
    `        ssl_session_cache shared:crebito_tls:${TLS_SESSION_CACHE_MB}m;`,
    `        ssl_session_timeout ${TLS_SESSION_TIMEOUT};`,
    // Tickets are encrypted with a key nginx never rotates while it runs,
    // which would undo forward secrecy; the shared cache resumes sessions.
    '        ssl_session_tickets off;',
    // Plain HTTP sent to the HTTPS port: nginx's 497 would answer its own
    // HTML 400; the catalogue's refusal says what to do instead.
    '        error_page 497 = @plain_http_on_tls_port;',
    '        location @plain_http_on_tls_port {',
    `            ${returnRefusal(failures.httpsRequired)}`,
    '        }',
  ];
  if (!sendsHsts(tls)) return lines.join('\n');
  return [
    ...lines,
    // Every answer of the API itself carries it; nginx's own pages with an
    // add_header of their own repeat it (hstsInPage), as they inherit none.
    `        ${HSTS_HEADER}`,
    '        if ($scheme = http) {',
    tls.plainHttp === 'redirect'
      ? // 308 keeps the method and body (301 would turn a POST into a GET).
        `            return 308 https://$host:${tls.port}$request_uri;`
      : `            ${returnRefusal(failures.httpsRequired)}`,
    '        }',
  ].join('\n');
}

/** A file path nginx reads unquoted: no space, quote, semicolon or brace. */
function nginxPath(file: string): string {
  if (/[\s'";{}$\\]/.test(file))
    throw new Error(
      `cannot give nginx the path ${JSON.stringify(file)}: rename it without spaces, quotes, semicolons, braces or dollars`,
    );
  return file;
}

/** How long nginx waits for an instance: its deadline and a margin, so that an instance always answers (or nginx gives up) after its own deadline. */
export function upstreamTimeoutMs(requestTimeoutMs: number): number {
  return requestTimeoutMs + UPSTREAM_MARGIN_MS;
}

/** A body for nginx's `return`, in single quotes: it must not hold one itself. */
function nginxString(text: string): string {
  if (text.includes("'") || text.includes('\\')) throw new Error(`cannot put ${text} in an nginx string`);
  return text;
}

/**
 * Per key (CREBITO_AUTH=keys): the key as the instances read it, whatever
 * the header's spelling (the scheme's case, the spaces around it), so one
 * key written 162 ways is one key; a request with no key nginx can read
 * counts against its address. An empty zone key is not counted, so each
 * request is counted by exactly one of the two zones. A key nginx reads but
 * no instance knows is counted by its address too, by the instance that
 * answers 401 (src/instance/http/address-limit.ts): only an instance knows
 * the keys.
 */
const KEY_ZONES = [
  '    map $http_authorization $crebito_rate_key {',
  '        default "";',
  '        "~*^[ \\t]*bearer[ \\t]+(?<token>[A-Za-z0-9._~+/-]+=*)[ \\t]*$" $token;',
  '    }',
  '    map $crebito_rate_key $crebito_rate_address {',
  '        "" $binary_remote_addr;',
  '        default "";',
  '    }',
];

/**
 * The zones (http level) and the limits (location level). A burst of one
 * second's worth passes at once; past it, 429 with Retry-After. Refusals are
 * logged at info, below error_log's level: a flood must not flood the log.
 */
function rateLimitLines(
  rateLimitPerS: number,
  by: NginxValues['rateLimitBy'],
): { RATE_LIMIT_ZONE: string; RATE_LIMIT: string } {
  if (rateLimitPerS === 0) return { RATE_LIMIT_ZONE: '    # (off)', RATE_LIMIT: '        # (no rate limit)' };
  const zones: [name: string, key: string][] =
    by === 'key'
      ? [
          ['per_client', '$crebito_rate_key'],
          ['per_address', '$crebito_rate_address'],
        ]
      : [['per_client', '$binary_remote_addr']];
  return {
    RATE_LIMIT_ZONE: [
      ...(by === 'key' ? KEY_ZONES : []),
      ...zones.map(([name, key]) => `    limit_req_zone ${key} zone=${name}:10m rate=${rateLimitPerS}r/s;`),
    ].join('\n'),
    RATE_LIMIT: [
      ...zones.map(([name]) => `        limit_req zone=${name} burst=${rateLimitPerS} nodelay;`),
      '        limit_req_status 429;',
      '        limit_req_log_level info;',
    ].join('\n'),
  };
}

/** The nginx binary: NGINX_BINARY (a setting), then PATH, then the usual install places. */
export function findNginx(environment: Environment = process.env): string | undefined {
  return (
    readSettings(environment, ['nginxBinary']).nginxBinary ?? findExecutable('nginx', NGINX_CANDIDATES, environment)
  );
}

/**
 * The upstream's servers. Container names are resolved again as containers
 * restart (a restarted container gets a new address): `resolve` needs a
 * shared zone and a resolver, and open-source nginx has it from 1.27.3 on
 * (docker-compose.yml names such an image). Unix sockets and fixed ports
 * need neither, and nginx 1.22 has neither.
 */
function upstreamServerLines(values: NginxValues): string {
  const servers = values.upstreamAddresses.map((address) => serverLine(address, values.upstreamNames));
  if (values.upstreamNames === 'fixed') return servers.join('\n');
  return [
    '        zone crebito_api 64k;',
    `        include ${DOCKER_RESOLVER_INCLUDE_PATH};`,
    '        resolver_timeout 1s;',
    ...servers,
  ].join('\n');
}

function serverLine(address: string, names: NginxValues['upstreamNames']): string {
  return `        server ${address} max_fails=1 fail_timeout=${UPSTREAM_FAIL_TIMEOUT_S}s${names === 'resolve' ? ' resolve' : ''};`;
}

// Every upstream block's connections to the instances. keepalive_timeout is
// shorter than the instances' own idle timeout (10 s in uWebSockets.js), so
// nginx, not the instance, closes an idle connection: otherwise a POST can
// race the close and fail with 502 (seen once in the bench).
const UPSTREAM_KEEPALIVE_LINES = [
  '        keepalive 256;',
  '        keepalive_requests 1000000;',
  '        keepalive_timeout 5s;',
].join('\n');

// Every upstream block's choice of instance: the client's home for its
// transactions (the template's map says why), round robin for the rest. nginx
// wants the method before keepalive.
const UPSTREAM_HASH_LINE = '        hash $crebito_home_key;';

/** The file whose presence takes instance number index (from 0) out of rotation: nginx tests it on every request (a stat). */
export function outOfRotationMarker(runDirectory: string, index: number): string {
  return path.join(runDirectory, `out-of-rotation-api-${index + 1}`);
}

/**
 * How the launcher takes one instance out of nginx's rotation without a
 * reload (a reload closes every idle client connection at once, and a client
 * that was just reusing one sees it fail): one more upstream per instance,
 * every instance but that one, and the marker file above chooses between
 * them per request. One instance out at a time; a second frozen instance is
 * left to nginx's own timeouts. Docker compose has no launcher: one upstream.
 */
function rotationLines(values: NginxValues): { ROTATION_UPSTREAMS: string; ROTATION_CHOICE: string } {
  const choice = ['        set $crebito_upstream crebito_api;'];
  if (values.upstreamNames === 'resolve' || values.upstreamAddresses.length < 2)
    return { ROTATION_UPSTREAMS: '', ROTATION_CHOICE: choice.join('\n') };
  const upstreams = values.upstreamAddresses.map((_, out) =>
    [
      `    upstream crebito_api_without_${out + 1} {`,
      UPSTREAM_HASH_LINE,
      ...values.upstreamAddresses
        .filter((_, index) => index !== out)
        .map((address) => serverLine(address, values.upstreamNames)),
      UPSTREAM_KEEPALIVE_LINES,
      '    }',
    ].join('\n'),
  );
  for (const [index] of values.upstreamAddresses.entries()) {
    choice.push(
      `        if (-f ${nginxPath(outOfRotationMarker(values.runDirectory, index))}) {`,
      `            set $crebito_upstream crebito_api_without_${index + 1};`,
      '        }',
    );
  }
  return { ROTATION_UPSTREAMS: ['', ...upstreams].join('\n\n'), ROTATION_CHOICE: choice.join('\n') };
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
    UNKNOWN_METHOD_JSON: nginxString(failures.unknownMethod.body),
    UNKNOWN_METHOD_ALLOW: failures.unknownMethod.headers.find(([name]) => name === 'allow')![1],
  };
}

export function renderNginxConfig(
  values: NginxValues,
  template = fs.readFileSync(NGINX_TEMPLATE_PATH, 'utf8'),
): string {
  const replacements: Record<string, string> = {
    PORT: String(values.port),
    RUN_DIRECTORY: values.runDirectory,
    WORKER_PROCESSES: values.workerProcesses,
    WORKER_USER:
      values.workerUser === undefined
        ? '# (workers run as nginx starts them)'
        : `user ${values.workerUser.user} ${values.workerUser.group};`,
    BODY_SIZE_BYTES_MAX: String(BODY_SIZE_BYTES_MAX),
    UPSTREAM_TIMEOUT_MS: String(upstreamTimeoutMs(values.requestTimeoutMs)),
    UPSTREAM_CONNECT_TIMEOUT_MS: String(UPSTREAM_MARGIN_MS),
    UPSTREAM_FAIL_TIMEOUT_S: String(UPSTREAM_FAIL_TIMEOUT_S),
    ...rateLimitLines(values.rateLimitPerS, values.rateLimitBy),
    ...refusalBodies(),
    UPSTREAM_HASH: UPSTREAM_HASH_LINE,
    UPSTREAM_SERVERS: upstreamServerLines(values),
    UPSTREAM_KEEPALIVE: UPSTREAM_KEEPALIVE_LINES,
    ...rotationLines(values),
    TLS: tlsLines(values.tls),
    HSTS_IN_PAGE: hstsInPage(values.tls),
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
  rateLimitBy: 'address',
  requestTimeoutMs: SETTINGS.requestTimeoutMs.default,
  upstreamNames: 'resolve',
  // The image's nginx starts as root and runs its workers as its own user.
  workerUser: undefined,
  // A certificate is the deployment's own: the compose file has none to mount.
  tls: undefined,
};
export const DOCKER_NGINX_CONFIG_PATH = path.join(PROJECT_ROOT, 'nginx', 'nginx.docker.conf');
