// HTTPS at nginx, checked with real curl against the certificate the stack
// made for itself (CREBITO_TLS=self-signed): HTTP/2 is negotiated, TLS 1.1
// is refused by the server (its alert, not the client's own refusal), the
// contract's POST and GET work over TLS, the key is private, and plain HTTP
// is kept by default. Redirect and refuse are checked on a second nginx
// rendered the same way, in front of the stack's plain port. Every nginx we
// render says no version: not in the Server header, not on its own pages.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/shared/wait.js';
import { findNginx, http2StyleOf, writeNginxConfig } from '../../src/stack/nginx.js';
import { holdsListeningPort } from '../../src/stack/processes.js';
import { selfSignedPaths } from '../../src/stack/tls.js';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../../tools/harness/stack.js';
import { LEAN_STACK } from '../support/lean-stack.js';

const NGINX_UP_TIMEOUT_MS = 10_000;
const CURL_TIMEOUT_S = 10;
// A version as nginx prints it with server_tokens on: "nginx/1.22.1".
const NGINX_VERSION = /nginx\/\d/;

let stack: RunningStack;
let tlsPort: number;
let certificate: string;

interface Curl {
  status: number | null;
  stdout: string;
  stderr: string;
}

function curl(args: string[]): Curl {
  const run = spawnSync('curl', ['-sS', '--max-time', String(CURL_TIMEOUT_S), ...args], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** `curl -i` output split into status, headers (lower-case names) and body; the last response when redirects were followed. */
function parsed(output: string): { status: number; headers: Map<string, string>; body: string } {
  const responses = output.split(/\r\n\r\n/);
  let index = 0;
  while (index + 1 < responses.length && /^HTTP\/[\d.]+ \d{3}/.test(responses[index + 1]!)) index++;
  const [statusLine, ...headerLines] = responses[index]!.split('\r\n');
  const headers = new Map(
    headerLines.map((line) => [
      line.slice(0, line.indexOf(':')).toLowerCase(),
      line.slice(line.indexOf(':') + 1).trim(),
    ]),
  );
  return {
    status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(statusLine!)![1]),
    headers,
    body: responses.slice(index + 1).join('\r\n\r\n'),
  };
}

const https = (port: number, route: string) => `https://localhost:${port}${route}`;
const POST_JSON = ['-H', 'content-type: application/json', '-X', 'POST'];

beforeAll(async () => {
  tlsPort = await freePort();
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: { ...LEAN_STACK, CREBITO_TLS: 'self-signed', CREBITO_TLS_PORT: String(tlsPort) },
  });
  certificate = selfSignedPaths(path.join(stack.dataDirectory, 'tls')).certificatePath;
});

afterAll(async () => {
  await stack?.dispose();
});

describe('HTTPS with a self-signed certificate (CREBITO_TLS=self-signed)', () => {
  it('keeps the key readable by its owner alone', () => {
    const key = selfSignedPaths(path.join(stack.dataDirectory, 'tls')).keyPath;
    expect(fs.statSync(key).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(certificate, 'utf8')).toContain('BEGIN CERTIFICATE');
  });

  it("negotiates HTTP/2, and the contract's POST and GET work over it", () => {
    const posted = curl([
      '--cacert',
      certificate,
      '--http2',
      '-i',
      ...POST_JSON,
      '--data',
      '{"valor": 25, "tipo": "c", "descricao": "tls"}',
      '-w',
      '\n%{http_version}',
      https(tlsPort, '/clientes/1/transacoes'),
    ]);
    expect(posted.stderr).toBe('');
    expect(posted.stdout.trimEnd().endsWith('\n2')).toBe(true);
    const answer = parsed(posted.stdout.slice(0, posted.stdout.trimEnd().lastIndexOf('\n')));
    expect(answer.status).toBe(200);
    const { saldo, limite } = JSON.parse(answer.body) as { saldo: number; limite: number };
    expect(limite).toBe(100000);

    const read = curl([
      '--cacert',
      certificate,
      '--http2',
      '-w',
      '\n%{http_version}',
      https(tlsPort, '/clientes/1/extrato'),
    ]);
    const [body, version] = read.stdout.trimEnd().split('\n');
    expect(version).toBe('2');
    const statement = JSON.parse(body!) as { saldo: { total: number }; ultimas_transacoes: { descricao: string }[] };
    expect(statement.saldo.total).toBe(saldo);
    expect(statement.ultimas_transacoes[0]!.descricao).toBe('tls');
  });

  it('refuses TLS 1.1 with a protocol-version alert, and takes TLS 1.2', () => {
    // SECLEVEL=0 lets this client offer TLS 1.1 at all (OpenSSL 3 will not
    // by default), so a refusal is the server's: its alert says so.
    const old = curl([
      '--cacert',
      certificate,
      '--tlsv1.1',
      '--tls-max',
      '1.1',
      '--ciphers',
      'DEFAULT@SECLEVEL=0',
      https(tlsPort, '/clientes/1/extrato'),
    ]);
    expect(old.status).not.toBe(0);
    expect(old.stderr).toContain('alert protocol version');
    const current = curl([
      '--cacert',
      certificate,
      '--tlsv1.2',
      '--tls-max',
      '1.2',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      https(tlsPort, '/clientes/1/extrato'),
    ]);
    expect(current.stdout).toBe('200');
  });

  it('refuses a client that does not trust the certificate', () => {
    const untrusting = curl(['--cacert', '/etc/ssl/certs/ca-certificates.crt', https(tlsPort, '/clientes/1/extrato')]);
    expect(untrusting.status).toBe(60);
  });

  it('keeps plain HTTP on PORT by default, answering the same', () => {
    const plain = curl(['-i', `http://127.0.0.1:${stack.port}/clientes/1/extrato`]);
    expect(parsed(plain.stdout).status).toBe(200);
  });
});

describe('server_tokens off', () => {
  it("names no nginx version in the Server header or on nginx's own pages", () => {
    const answers = [
      curl(['-i', `http://127.0.0.1:${stack.port}/clientes/1/extrato`]).stdout,
      // nginx's own pages: TRACE (405), and plain HTTP on the HTTPS port.
      curl(['-i', '-X', 'TRACE', `http://127.0.0.1:${stack.port}/`]).stdout,
      curl(['-i', `http://127.0.0.1:${tlsPort}/clientes/1/extrato`]).stdout,
      curl(['-i', '--cacert', certificate, '--http2', https(tlsPort, '/nada')]).stdout,
    ];
    expect(parsed(answers[1]!).status).toBe(405);
    // Regression: plain HTTP on the HTTPS port got nginx's HTML 400.
    expect(parsed(answers[2]!).status).toBe(403);
    expect(JSON.parse(parsed(answers[2]!).body)).toMatchObject({ erro: 'https_obrigatorio' });
    for (const answer of answers) {
      expect(parsed(answer).headers.get('server')).toBe('nginx');
      expect(answer).not.toMatch(NGINX_VERSION);
    }
  });
});

/** A second nginx, rendered as the launcher renders its own, in front of the stack's plain port. */
async function withFrontNginx(
  plainHttp: 'redirect' | 'refuse',
  use: (ports: { plain: number; tls: number }) => void,
): Promise<void> {
  const binary = findNginx()!;
  const runDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-tls-front-'));
  const ports = { plain: await freePort(), tls: await freePort() };
  const key = selfSignedPaths(path.join(stack.dataDirectory, 'tls')).keyPath;
  const configPath = writeNginxConfig(binary, {
    port: ports.plain,
    runDirectory,
    workerProcesses: '1',
    upstreamAddresses: [`127.0.0.1:${stack.port}`],
    rateLimitPerS: 0,
    requestTimeoutMs: 1000,
    upstreamNames: 'fixed',
    workerUser: undefined,
    rateLimitBy: 'address',
    tls: { port: ports.tls, certificatePath: certificate, keyPath: key, plainHttp, http2: http2StyleOf(binary) },
  });
  const nginx = spawn(binary, ['-p', runDirectory, '-c', configPath], { stdio: 'ignore' });
  try {
    const up = await waitFor(
      () => holdsListeningPort(nginx.pid!, ports.tls) && holdsListeningPort(nginx.pid!, ports.plain),
      { timeoutMs: NGINX_UP_TIMEOUT_MS, intervalMs: 50 },
    );
    expect(up, 'the front nginx listens').not.toBeUndefined();
    use(ports);
  } finally {
    nginx.kill('SIGQUIT');
    await new Promise((resolve) => nginx.once('exit', resolve));
    fs.rmSync(runDirectory, { recursive: true, force: true });
  }
}

describe('plain HTTP when TLS is on (CREBITO_PLAIN_HTTP)', () => {
  it('redirect: 308 to the same path over HTTPS, which a client follows with its POST', async () => {
    await withFrontNginx('redirect', (ports) => {
      const first = parsed(curl(['-i', `http://localhost:${ports.plain}/clientes/2/extrato?x=1`]).stdout);
      expect(first.status).toBe(308);
      expect(first.headers.get('location')).toBe(`https://localhost:${ports.tls}/clientes/2/extrato?x=1`);
      const followed = curl([
        '-i',
        '-L',
        '--cacert',
        certificate,
        ...POST_JSON,
        '--data',
        '{"valor": 3, "tipo": "c", "descricao": "seguiu"}',
        `http://localhost:${ports.plain}/clientes/2/transacoes`,
      ]);
      const answer = parsed(followed.stdout);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('strict-transport-security')).toMatch(/^max-age=\d+$/);
      // Regression: nginx's own pages with headers of their own (405, 429,
      // 502, 504) inherited no HSTS, so a browser could learn it from none.
      const unknownMethod = parsed(
        curl(['-i', '-X', 'PROPFIND', '--cacert', certificate, https(ports.tls, '/clientes/2/extrato')]).stdout,
      );
      expect(unknownMethod.status).toBe(405);
      expect(unknownMethod.headers.get('strict-transport-security')).toMatch(/^max-age=\d+$/);
      const statement = JSON.parse(curl(['--cacert', certificate, https(ports.tls, '/clientes/2/extrato')]).stdout) as {
        ultimas_transacoes: { descricao: string }[];
      };
      expect(statement.ultimas_transacoes[0]!.descricao).toBe('seguiu');
    });
  });

  it('refuse: 403 https_obrigatorio from the catalogue, and nothing applied', async () => {
    await withFrontNginx('refuse', (ports) => {
      const before = curl(['--cacert', certificate, https(ports.tls, '/clientes/5/extrato')]).stdout;
      const refused = parsed(
        curl([
          '-i',
          ...POST_JSON,
          '--data',
          '{"valor": 7, "tipo": "c", "descricao": "claro"}',
          `http://localhost:${ports.plain}/clientes/5/transacoes`,
        ]).stdout,
      );
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body)).toMatchObject({ erro: 'https_obrigatorio' });
      const after = curl(['--cacert', certificate, https(ports.tls, '/clientes/5/extrato')]).stdout;
      expect((JSON.parse(after) as { saldo: { total: number } }).saldo.total).toBe(
        (JSON.parse(before) as { saldo: { total: number } }).saldo.total,
      );
    });
  });
});
