// nginx's configuration as the launcher renders it (npm start), from its
// settings: the workers, one upstream per instance left out of rotation and
// the marker file that picks it, the rate limit per API key or per address,
// and HTTPS. The docker compose rendering is held by generated-files.test.ts;
// whether nginx accepts the file is checked by `nginx -t` at every start and
// by the stack tests.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { launcherNginxValues } from '../../src/stack/children.js';
import { readLauncherConfig } from '../../src/stack/config.js';
import { outOfRotationMarker, renderNginxConfig, type Http2Style } from '../../src/stack/nginx.js';
import type { TlsPlan } from '../../src/stack/tls.js';

const RUN_DIRECTORY = '/var/run/crebito-test';
const SOCKETS = [1, 2, 3].map((index) => `unix:${path.join(RUN_DIRECTORY, `api-${index}.sock`)}`);
const TLS: TlsPlan = {
  port: 9443,
  certificatePath: '/etc/crebito/cert.pem',
  keyPath: '/etc/crebito/key.pem',
  plainHttp: 'keep',
};

function render(environment: Record<string, string>, options: { tls?: TlsPlan; http2?: Http2Style } = {}): string {
  const config = readLauncherConfig({ CREBITO_INSTANCES: String(SOCKETS.length), ...environment });
  const plan = { runDirectory: RUN_DIRECTORY, listenAddresses: SOCKETS, workerUser: undefined, tls: options.tls };
  return renderNginxConfig(launcherNginxValues(config, plan, options.http2 ?? 'directive'));
}

/** The lines of one block, from its opening line to its closing brace at the same indentation. */
function block(config: string, opening: string): string[] {
  const lines = config.split('\n');
  const start = lines.findIndex((line) => line.trim() === opening);
  expect(start, `no block ${opening}`).toBeGreaterThanOrEqual(0);
  const indent = lines[start]!.length - lines[start]!.trimStart().length;
  const end = lines.findIndex((line, index) => index > start && line === `${' '.repeat(indent)}}`);
  return lines.slice(start + 1, end).map((line) => line.trim());
}

const serverLines = (lines: string[]) => lines.filter((line) => line.startsWith('server '));
const servers = (lines: string[]) => serverLines(lines).map((line) => line.split(' ')[1]);

describe('nginx as the launcher renders it', () => {
  it('fills every placeholder, and runs CREBITO_NGINX_WORKERS workers', () => {
    const config = render({ CREBITO_NGINX_WORKERS: '3' });
    expect(config).not.toMatch(/\$\{[A-Z_]+\}/);
    expect(config).toMatch(/^worker_processes 3;$/m);
    expect(render({})).toMatch(/^worker_processes 1;$/m);
  });

  it("sends to every instance's socket, fixed (no resolve)", () => {
    const upstream = block(render({}), 'upstream crebito_api {');
    expect(servers(upstream)).toEqual(SOCKETS);
    expect(serverLines(upstream).every((line) => !line.includes(' resolve'))).toBe(true);
  });

  it("has, for each instance, an upstream of the others, chosen while that instance's marker file exists", () => {
    const config = render({});
    for (const [out] of SOCKETS.entries()) {
      const others = SOCKETS.filter((_, index) => index !== out);
      expect(servers(block(config, `upstream crebito_api_without_${out + 1} {`))).toEqual(others);
      const marker = outOfRotationMarker(RUN_DIRECTORY, out);
      const choice = `set $crebito_upstream crebito_api_without_${out + 1};`;
      expect(config).toContain(`if (-f ${marker}) {\n            ${choice}`);
    }
    expect(config).toContain('set $crebito_upstream crebito_api;');
  });

  it('limits nothing without CREBITO_RATE_LIMIT_PER_S', () => {
    expect(render({})).not.toContain('limit_req');
  });

  it("limits per address without keys, with a burst of one second's worth", () => {
    const config = render({ CREBITO_RATE_LIMIT_PER_S: '5' });
    expect(config).toContain('limit_req_zone $binary_remote_addr zone=per_client:10m rate=5r/s;');
    expect(config).toContain('limit_req zone=per_client burst=5 nodelay;');
    expect(config).toContain('limit_req_status 429;');
  });

  it('limits per API key with CREBITO_AUTH=keys, a request without one counted by its address', () => {
    const config = render({ CREBITO_RATE_LIMIT_PER_S: '5', CREBITO_AUTH: 'keys' });
    // The key zone counts the token parsed out of the header (any case of the
    // scheme, any spaces), empty for a request without one: not counted there.
    const byKey = block(config, 'map $http_authorization $crebito_rate_key {');
    expect(byKey.some((line) => line.startsWith('"~*^[ \\t]*bearer[ \\t]+(?<token>'))).toBe(true);
    expect(byKey).toContain('default "";');
    expect(config).toContain('limit_req_zone $crebito_rate_key zone=per_client:10m rate=5r/s;');
    // The address zone counts exactly the requests without a token.
    const byAddress = block(config, 'map $crebito_rate_key $crebito_rate_address {');
    expect(byAddress).toContain('"" $binary_remote_addr;');
    expect(byAddress).toContain('default "";');
    expect(config).toContain('limit_req_zone $crebito_rate_address zone=per_address:10m rate=5r/s;');
    expect(config).toContain('limit_req zone=per_client burst=5 nodelay;');
    expect(config).toContain('limit_req zone=per_address burst=5 nodelay;');
  });

  it('serves plain HTTP only, without TLS', () => {
    const config = render({});
    expect(config).not.toContain(' ssl');
    expect(config).not.toContain('Strict-Transport-Security');
  });

  it('serves HTTPS beside plain HTTP with TLS, HTTP/2 as the binary turns it on', () => {
    const modern = render({}, { tls: TLS, http2: 'directive' });
    expect(modern).toContain('listen 9443 ssl backlog=4096;');
    expect(modern).toContain('http2 on;');
    expect(modern).toContain(`ssl_certificate ${TLS.certificatePath};`);
    expect(modern).toContain(`ssl_certificate_key ${TLS.keyPath};`);
    expect(modern).toContain('ssl_protocols TLSv1.2 TLSv1.3;');
    expect(modern).not.toContain('Strict-Transport-Security');
    const older = render({}, { tls: TLS, http2: 'listen-parameter' });
    expect(older).toContain('listen 9443 ssl http2 backlog=4096;');
    expect(older).not.toContain('http2 on;');
  });

  it('redirects or refuses plain HTTP as CREBITO_PLAIN_HTTP says, and then sends HSTS', () => {
    const redirect = render({}, { tls: { ...TLS, plainHttp: 'redirect' } });
    expect(redirect).toContain('return 308 https://$host:9443$request_uri;');
    expect(redirect).toContain('Strict-Transport-Security');
    const refuse = render({}, { tls: { ...TLS, plainHttp: 'refuse' } });
    expect(refuse).toMatch(/if \(\$scheme = http\) \{\n\s+return 403 /);
    expect(refuse).toContain('Strict-Transport-Security');
  });
});
