// No secrets where they do not belong: a stack whose DATABASE_URL and
// DATABASE_OWNER_URL carry passwords is run through every kind of answer
// (applied, refused, invalid, unknown, a history page, a keyed replay, an
// internal error the database causes), and then its logs, every answer's
// body and headers, /health and /metrics of every instance, state.json and
// every other file the launcher wrote are searched for either password.
// Then the same for API keys: a stack with CREBITO_AUTH=keys (and a rate
// limit, which nginx then counts per key) is sent good, refused, revoked and
// malformed keys, and nothing it writes or answers holds one; `npm run keys
// -- list` holds neither a key nor its hash.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/instance/ledger/api-keys.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { waitFor, waitForOrThrow } from '../../src/shared/wait.js';
import { createKey, revokeKey } from '../../tools/keys/keys.js';
import {
  freePort,
  getFromListenAddress,
  makeDataDirectory,
  startStack,
  type RunningStack,
} from '../../tools/harness/stack.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { request, postWithKey } from '../support/http.js';

const instancePassword = `senha-api-${randomBytes(8).toString('hex')}`;
const ownerPassword = `senha-dono-${randomBytes(8).toString('hex')}`;
const SECRETS = [instancePassword, ownerPassword];

let database: TestDatabase;
let stack: RunningStack;
/** Everything the service answered: status line, headers and body of each. */
const answers: string[] = [];

/** The URL with a password in its user part (the test cluster trusts its socket, so any password logs in). */
const withPassword = (url: string, password: string) => url.replace(/^(postgresql:\/\/[^@:]+)@/, `$1:${password}@`);

async function record(method: string, route: string, body?: unknown): Promise<void> {
  const answer = await request(stack.baseUrl, method, route, body);
  answers.push(`${answer.status} ${JSON.stringify([...answer.headers])} ${answer.text}`);
}

function filesUnder(directory: string): string[] {
  return fs
    .readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

beforeAll(async () => {
  database = await createTestDatabase();
  // A row the database refuses after validation passed: a 500 whose error is logged.
  await database.query("ALTER TABLE transacoes ADD CONSTRAINT teste_veneno CHECK (descricao <> 'veneno')");
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: {
      DATABASE_URL: withPassword(database.url, instancePassword),
      DATABASE_OWNER_URL: withPassword(database.ownerUrl, ownerPassword),
    },
  });
});

afterAll(async () => {
  await stack?.dispose();
  await database?.close();
});

describe('passwords in the database URLs', () => {
  it('appear in no log line, answer, /health, /metrics, state.json or file of the stack', async () => {
    expect(withPassword(database.url, instancePassword)).toContain(`:${instancePassword}@`);
    await record('POST', '/clientes/1/transacoes', { valor: 10, tipo: 'c', descricao: 'ok' });
    await record('POST', '/clientes/1/transacoes', { valor: 999_999_999, tipo: 'd', descricao: 'demais' });
    await record('POST', '/clientes/1/transacoes', { valor: 10, tipo: 'c', descricao: 'veneno' });
    await record('POST', '/clientes/1/transacoes', '{"valor": ');
    await record('POST', '/clientes/6/transacoes', { valor: 10, tipo: 'c', descricao: 'ninguem' });
    await record('GET', '/clientes/1/extrato');
    await record('GET', '/clientes/1/transacoes?limit=1');
    await record('GET', '/clientes/1/transacoes?before=forjado');
    await record('GET', '/nada');
    for (let attempt = 0; attempt < 2; attempt++) {
      const keyed = await postWithKey(stack.baseUrl, 2, { valor: 5, tipo: 'c', descricao: 'chave' }, 'chave-segredo');
      answers.push(`${keyed.status} ${keyed.bytes.toString()}`);
    }
    expect(answers.some((answer) => answer.startsWith('500 '))).toBe(true);

    const operatorViews: string[] = [];
    for (const instance of stack.state().instances) {
      // /ready may say 503 for a moment on a busy machine (a key poll that ran
      // late): what is read here is its body, once it says ready again.
      await waitForOrThrow(
        `${instance.name} ready`,
        async () => (await getFromListenAddress(instance.admin!, '/ready', 5000))?.status === 200,
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      for (const route of ['/health', '/ready', '/metrics']) {
        const answer = await getFromListenAddress(instance.admin!, route, 5000);
        expect(answer?.status, `${instance.name} ${route}`).toBeLessThan(300);
        operatorViews.push(answer!.body);
      }
    }
    await record('GET', '/health');

    // The tools' two URLs, recorded without their passwords.
    expect(stack.state().instanceDatabaseUrl).toMatch(/^postgresql:\/\/crebito_api@\//);
    expect(stack.state().databaseUrl).toMatch(/^postgresql:\/\/crebito_owner@\//);
    const files = filesUnder(stack.dataDirectory);
    expect(files.map((file) => path.basename(file))).toContain('state.json');
    const places: [string, string][] = [
      ['the logs', stack.output()],
      ['the answers', answers.join('\n')],
      ['/health, /ready and /metrics', operatorViews.join('\n')],
      ...files.map((file): [string, string] => [file, fs.readFileSync(file, 'latin1')]),
    ];
    for (const [place, text] of places) {
      expect(text.length, place).toBeGreaterThan(0);
      for (const secret of SECRETS) expect(text.includes(secret), `${place} holds a password`).toBe(false);
    }
  });

  it('appear nowhere when npm start refuses the URL it was given', async () => {
    const refused = startStack({
      port: await freePort(),
      dataDirectory: makeDataDirectory(),
      environment: { DATABASE_URL: withPassword(database.adminUrl, instancePassword), CREBITO_NGINX: 'off' },
    });
    const error = await refused.then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error?.message).toMatch(/a superuser/);
    for (const secret of SECRETS) expect(error!.message.includes(secret)).toBe(false);
  });
});

describe('API keys', () => {
  const RATE_LIMIT_PER_S = 20;
  let keyed: RunningStack | undefined;
  const keys: Record<string, string> = {};
  const keyAnswers: string[] = [];

  async function send(
    method: string,
    route: string,
    authorization: string | undefined,
    body?: unknown,
  ): Promise<number> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (authorization !== undefined) headers.authorization = authorization;
    const response = await fetch(`${keyed!.baseUrl}${route}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    keyAnswers.push(`${response.status} ${JSON.stringify([...response.headers])} ${text}`);
    return response.status;
  }

  beforeAll(async () => {
    const owner = new pg.Client({ connectionString: database.ownerUrl });
    await owner.connect();
    for (const [name, scope] of [
      ['segredo-rw', 'read-write'],
      ['segredo-ro', 'read'],
      ['segredo-flood', 'read'],
      ['segredo-revogado', 'read'],
      ['segredo-grafias', 'read'],
    ] as const) {
      keys[name] = await createKey(owner, { name, clients: 'all', scope, expiresInS: undefined });
    }
    await revokeKey(owner, 'segredo-revogado');
    await owner.end();
    keyed = await startStack({
      port: await freePort(),
      dataDirectory: makeDataDirectory(),
      environment: {
        DATABASE_URL: database.url,
        DATABASE_OWNER_URL: database.ownerUrl,
        CREBITO_AUTH: 'keys',
        CREBITO_RATE_LIMIT_PER_S: String(RATE_LIMIT_PER_S),
        CREBITO_LOG_LEVEL: 'debug',
      },
    });
    await waitFor(async () => (await send('GET', '/clientes/1/extrato', `Bearer ${keys['segredo-ro']}`)) === 200, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
  });

  afterAll(async () => {
    await keyed?.dispose();
  });

  it('are rate-limited per key by nginx: one key flooding gets 429, another key is still served', async () => {
    const flood = await Promise.all(
      Array.from({ length: RATE_LIMIT_PER_S * 4 }, () =>
        send('GET', '/clientes/2/extrato', `Bearer ${keys['segredo-flood']}`),
      ),
    );
    expect(flood).toContain(429);
    expect(await send('GET', '/clientes/2/extrato', `Bearer ${keys['segredo-ro']}`)).toBe(200);
  });

  it('appear in no log line, answer, /health, /metrics, state.json, file of the stack, or key listing', async () => {
    await send('POST', '/clientes/1/transacoes', `Bearer ${keys['segredo-rw']}`, {
      valor: 10,
      tipo: 'c',
      descricao: 'ok',
    });
    await send('POST', '/clientes/1/transacoes', `Bearer ${keys['segredo-ro']}`, {
      valor: 10,
      tipo: 'c',
      descricao: 'so-leitura',
    });
    await send('POST', '/clientes/1/transacoes', `Bearer ${keys['segredo-rw']}`, {
      valor: 10,
      tipo: 'c',
      descricao: 'veneno',
    });
    await send('POST', '/clientes/1/transacoes', `Bearer ${keys['segredo-rw']}`, '{"valor": ');
    await send('GET', '/clientes/1/transacoes?limit=2', `Bearer ${keys['segredo-ro']}`);
    await send('GET', '/clientes/1/extrato', `Bearer ${keys['segredo-revogado']}`);
    await send('GET', '/clientes/1/extrato', `Bearer ${keys['segredo-rw']}x`);
    await send('GET', '/clientes/1/extrato', `Basic ${keys['segredo-rw']}`);
    await send('GET', '/nada', `Bearer ${keys['segredo-rw']}`);
    expect(keyAnswers.some((answer) => answer.startsWith('500 '))).toBe(true);
    expect(keyAnswers.some((answer) => answer.startsWith('401 '))).toBe(true);
    expect(keyAnswers.some((answer) => answer.startsWith('403 '))).toBe(true);

    const operatorViews: string[] = [];
    for (const instance of keyed!.state().instances) {
      for (const route of ['/health', '/ready', '/metrics'])
        operatorViews.push((await getFromListenAddress(instance.admin!, route, 5000))!.body);
    }
    const listing = execFileSync(
      process.execPath,
      [path.join(PROJECT_ROOT, 'dist', 'tools', 'keys', 'main.js'), 'list'],
      { env: { ...process.env, DATABASE_OWNER_URL: database.ownerUrl }, encoding: 'utf8' },
    );
    expect(listing).toContain('segredo-rw');
    const places: [string, string][] = [
      ['the logs', keyed!.output()],
      ['the answers', keyAnswers.join('\n')],
      ['/health, /ready and /metrics', operatorViews.join('\n')],
      ['npm run keys -- list', listing],
      ...filesUnder(keyed!.dataDirectory).map((file): [string, string] => [file, fs.readFileSync(file, 'latin1')]),
    ];
    // A key, without its prefix too, and its hash in the usual spellings.
    const secrets = Object.values(keys).flatMap((key) => [
      key,
      key.slice(4),
      hashApiKey(key).toString('hex'),
      hashApiKey(key).toString('base64'),
    ]);
    for (const [place, text] of places) {
      expect(text.length, place).toBeGreaterThan(0);
      for (const secret of secrets) expect(text.includes(secret), `${place} holds an API key or its hash`).toBe(false);
    }
  });

  // After the tests above: these spend this address's allowance of refusals.
  it("regression: one key written 162 ways (the scheme's case, the spaces) was 162 keys to the rate limit", async () => {
    const spellings = Array.from({ length: 162 }, (_, index) => {
      const scheme = [...'bearer'].map((letter, at) => ((index >> at) & 1 ? letter.toUpperCase() : letter)).join('');
      return `${scheme}${' '.repeat(1 + Math.floor(index / 64))}${keys['segredo-grafias']}${' '.repeat(index % 2)}`;
    });
    const statuses = await Promise.all(spellings.map((spelling) => send('GET', '/clientes/3/extrato', spelling)));
    expect(new Set(statuses)).toEqual(new Set([200, 429]));
  });

  it('regression: a flood of made-up keys was never limited; with no key, or an unknown one, requests count against their address', async () => {
    for (const made of [
      (index: number) => `Bearer bogus${index}`,
      (index: number) => `Bearer crb_${String(index).padStart(43, 'x')}`,
      () => undefined,
    ]) {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const statuses = await Promise.all(
        Array.from({ length: 100 }, (_, index) => send('GET', '/clientes/1/extrato', made(index))),
      );
      expect(new Set(statuses)).toEqual(new Set([401, 429]));
    }
    // A valid key from the same address is still served.
    expect(await send('GET', '/clientes/1/extrato', `Bearer ${keys['segredo-ro']}`)).toBe(200);
  });
});
