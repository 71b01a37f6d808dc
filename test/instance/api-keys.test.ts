// CREBITO_AUTH=keys against a real instance and database: every API route
// by key and scope (401, 403, 200), what a refusal leaves (nothing moved),
// which key each transaction records (alone and in shared batches), the key's
// name in the history and never in the extrato, revocation and expiry seen
// by a running instance (polled until refused, with a cap; no timing
// asserted), and the `npm run keys` command itself.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/shared/wait.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { createKey, revokeKey, type NewKey } from '../../tools/keys/keys.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

const KEYS_ENTRY = path.join(PROJECT_ROOT, 'dist', 'tools', 'keys', 'main.js');
// Revocation is promised within 1 s; the wait is capped well above it so a
// busy machine does not fail the test, and the test asserts only the outcome.
const REFUSED_WAIT = { timeoutMs: 10_000, intervalMs: 50 };

let database: TestDatabase;
let owner: pg.Client;
let instance: RunningInstance;
const secrets: Record<string, string> = {};

const KEYS: Record<string, Omit<NewKey, 'name'>> = {
  'all-rw': { clients: 'all', scope: 'read-write', expiresInS: undefined },
  'all-ro': { clients: 'all', scope: 'read', expiresInS: undefined },
  'c1-rw': { clients: [1], scope: 'read-write', expiresInS: 3600 },
  'c1-ro': { clients: [1], scope: 'read', expiresInS: undefined },
  'c2-rw': { clients: [2], scope: 'read-write', expiresInS: undefined },
};

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

async function call(
  method: string,
  pathname: string,
  authorization: string | undefined,
  body?: unknown,
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization;
  const response = await fetch(`${instance.baseUrl}${pathname}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text), headers: response.headers };
}

const bearer = (name: string) => `Bearer ${secrets[name]}`;
const credit = { valor: 1, tipo: 'c', descricao: 'auth' };

beforeAll(async () => {
  database = await createTestDatabase();
  owner = new pg.Client({ connectionString: database.ownerUrl });
  await owner.connect();
  for (const [name, key] of Object.entries(KEYS)) secrets[name] = await createKey(owner, { name, ...key });
  instance = await startInstance({ databaseUrl: database.url, environment: { CREBITO_AUTH: 'keys' } });
  // The instance answers 503 until its first read of the keys.
  await waitFor(async () => (await fetch(`${instance.baseUrl}/ready`)).status === 200, {
    timeoutMs: 10_000,
    intervalMs: 50,
  });
});

afterAll(async () => {
  await instance?.stop();
  await owner?.end();
  await database?.close();
});

type Route = {
  method: 'POST' | 'GET';
  path: (clientId: number | string) => string;
  access: 'read' | 'write';
  body?: object;
};
const ROUTES: Record<string, Route> = {
  'POST transacoes': { method: 'POST', path: (id) => `/clientes/${id}/transacoes`, access: 'write' },
  // The payee (4) is never a case's client, and needs no key.
  'POST transferencias': {
    method: 'POST',
    path: (id) => `/clientes/${id}/transferencias`,
    access: 'write',
    body: { para: 4, valor: 1, descricao: 'auth' },
  },
  'GET extrato': { method: 'GET', path: (id) => `/clientes/${id}/extrato`, access: 'read' },
  'GET historico': { method: 'GET', path: (id) => `/clientes/${id}/transacoes`, access: 'read' },
};

// [what, authorization, client, expected status by access, expected code]
const CASES: [
  string,
  () => string | undefined,
  number | string,
  Record<'read' | 'write', number>,
  Record<'read' | 'write', string | undefined>,
][] = [
  [
    'no key',
    () => undefined,
    1,
    { read: 401, write: 401 },
    { read: 'autenticacao_necessaria', write: 'autenticacao_necessaria' },
  ],
  [
    'an unknown key',
    () => 'Bearer crb_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    1,
    { read: 401, write: 401 },
    { read: 'chave_api_invalida', write: 'chave_api_invalida' },
  ],
  [
    'another scheme',
    () => `Basic ${secrets['all-rw']}`,
    1,
    { read: 401, write: 401 },
    { read: 'chave_api_invalida', write: 'chave_api_invalida' },
  ],
  [
    'a key for every client',
    () => bearer('all-rw'),
    1,
    { read: 200, write: 200 },
    { read: undefined, write: undefined },
  ],
  [
    'a key for every client, lower-case scheme',
    () => `bearer ${secrets['all-rw']}`,
    3,
    { read: 200, write: 200 },
    { read: undefined, write: undefined },
  ],
  [
    'a read-only key',
    () => bearer('all-ro'),
    2,
    { read: 200, write: 403 },
    { read: undefined, write: 'chave_somente_leitura' },
  ],
  ['a key for this client', () => bearer('c1-rw'), 1, { read: 200, write: 200 }, { read: undefined, write: undefined }],
  [
    'a key for another client',
    () => bearer('c2-rw'),
    1,
    { read: 403, write: 403 },
    { read: 'cliente_nao_permitido', write: 'cliente_nao_permitido' },
  ],
  [
    'a read-only key for this client',
    () => bearer('c1-ro'),
    1,
    { read: 200, write: 403 },
    { read: undefined, write: 'chave_somente_leitura' },
  ],
  [
    'a key for one client, on a client that does not exist',
    () => bearer('c1-rw'),
    999,
    { read: 403, write: 403 },
    { read: 'cliente_nao_permitido', write: 'cliente_nao_permitido' },
  ],
  [
    'a key for every client, on a client that does not exist',
    () => bearer('all-rw'),
    999,
    { read: 404, write: 404 },
    { read: 'cliente_nao_encontrado', write: 'cliente_nao_encontrado' },
  ],
];

describe('API keys on every route', () => {
  for (const [routeName, route] of Object.entries(ROUTES)) {
    for (const [what, authorization, clientId, statuses, codes] of CASES) {
      it(`${routeName} with ${what}: ${statuses[route.access]}`, async () => {
        const before = await database.transactionCount();
        const answer = await call(
          route.method,
          route.path(clientId),
          authorization(),
          route.method === 'POST' ? (route.body ?? credit) : undefined,
        );
        expect(answer.status, JSON.stringify(answer.body)).toBe(statuses[route.access]);
        if (codes[route.access] !== undefined) expect(answer.body.erro).toBe(codes[route.access]);
        if (answer.status === 401 || answer.status === 403) {
          expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm="crebito"/);
          expect(await database.transactionCount()).toBe(before);
        }
      });
    }
  }
});

describe('what a key leaves behind', () => {
  it('records the key of each transaction, alone and in shared batches, and shows its name in the history only', async () => {
    const ids = Object.fromEntries(
      (await database.query<{ id: number; nome: string }>('SELECT id, nome FROM chaves_api')).map((row) => [
        row.nome,
        row.id,
      ]),
    );
    const before = await database.query<{ id: string }>('SELECT coalesce(max(id), 0) AS id FROM transacoes');
    // Concurrent requests from two keys share database calls (batches).
    const sent = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        call('POST', '/clientes/1/transacoes', bearer(index % 2 === 0 ? 'c1-rw' : 'all-rw'), credit),
      ),
    );
    expect(sent.every((answer) => answer.status === 200)).toBe(true);
    const rows = await database.query<{ chave_api_id: number | null; n: number }>(
      'SELECT chave_api_id, count(*)::int AS n FROM transacoes WHERE id > $1 GROUP BY chave_api_id ORDER BY chave_api_id',
      [before[0]!.id],
    );
    expect(rows).toEqual(
      [
        { chave_api_id: ids['all-rw'], n: 20 },
        { chave_api_id: ids['c1-rw'], n: 20 },
      ].sort((a, b) => a.chave_api_id! - b.chave_api_id!),
    );

    const page = await call('GET', '/clientes/1/transacoes?limit=40', bearer('c1-ro'));
    expect(new Set(page.body.transacoes.map((entry: { chave_api?: string }) => entry.chave_api))).toEqual(
      new Set(['c1-rw', 'all-rw']),
    );
    const statement = await call('GET', '/clientes/1/extrato', bearer('c1-ro'));
    expect(statement.body.ultimas_transacoes.length).toBeGreaterThan(0);
    for (const entry of statement.body.ultimas_transacoes)
      expect(Object.keys(entry).sort()).toEqual(['descricao', 'realizada_em', 'tipo', 'valor']);
  });

  it('never shows a key or its hash in /health', async () => {
    // The key numbers are on the admin address only, with the other internals.
    const health = await fetch(`http://${instance.admin}/health`).then((response) => response.text());
    expect(JSON.parse(health).ledger.apiKeys.inForce).toBeGreaterThanOrEqual(Object.keys(KEYS).length);
    for (const secret of Object.values(secrets)) expect(health).not.toContain(secret);
  });
});

describe('regression: an Idempotency-Key was shared by every API key writing to a client', () => {
  async function keyed(name: string, key: string, body: unknown): Promise<Answer> {
    const response = await fetch(`${instance.baseUrl}/clientes/1/transacoes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: bearer(name), 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json(), headers: response.headers };
  }

  it("another key's request with the same Idempotency-Key is applied, neither replayed nor refused as a reuse", async () => {
    const count = await database.transactionCount(1);
    const first = await keyed('all-rw', 'compartilhada', { valor: 3, tipo: 'c', descricao: 'primeira' });
    expect([first.status, first.headers.get('idempotent-replayed')]).toEqual([200, null]);
    const same = await keyed('c1-rw', 'compartilhada', { valor: 3, tipo: 'c', descricao: 'primeira' });
    expect([same.status, same.headers.get('idempotent-replayed')]).toEqual([200, null]);
    const other = await keyed('c1-rw', 'compartilhada-2', { valor: 4, tipo: 'c', descricao: 'outra' });
    expect((await keyed('all-rw', 'compartilhada-2', { valor: 5, tipo: 'c', descricao: 'diferente' })).status).toBe(
      200,
    );
    expect(other.status).toBe(200);
    // Each key's own retry is still a replay.
    const retry = await keyed('c1-rw', 'compartilhada', { valor: 3, tipo: 'c', descricao: 'primeira' });
    expect([retry.status, retry.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    expect(await database.transactionCount(1)).toBe(count + 4);
  });
});

describe("what the instances' role may do with the keys", () => {
  it('reads only what a check needs, and changes nothing', async () => {
    const api = new pg.Client({ connectionString: database.url });
    await api.connect();
    try {
      const { rows } = await api.query(
        'SELECT id, nome, verificador, clientes, escrita, expira_em, revogada_em FROM chaves_api',
      );
      expect(rows.length).toBeGreaterThan(0);
      // The hash is the proof the transaction functions take (sql/08-keys.sql): the owner's alone.
      for (const column of ['criada_em', 'hash'])
        await expect(api.query(`SELECT ${column} FROM chaves_api`)).rejects.toThrow(/permission denied/);
      await expect(
        api.query("INSERT INTO chaves_api (nome, hash, escrita) VALUES ('intrusa', sha256('x'), true)"),
      ).rejects.toThrow(/permission denied/);
      await expect(api.query('UPDATE chaves_api SET revogada_em = NULL')).rejects.toThrow(/permission denied/);
      await expect(api.query('UPDATE versao_chaves_api SET versao = 0')).rejects.toThrow(/permission denied/);
    } finally {
      await api.end();
    }
  });
});

describe('keys that stop being valid', () => {
  it('refuses a revoked key on a running instance', async () => {
    const secret = await createKey(owner, {
      name: 'revoked-soon',
      clients: 'all',
      scope: 'read',
      expiresInS: undefined,
    });
    const statement = () => call('GET', '/clientes/1/extrato', `Bearer ${secret}`);
    expect(await waitFor(async () => (await statement()).status === 200, REFUSED_WAIT)).toBeDefined();
    expect(await revokeKey(owner, 'revoked-soon')).toBe(true);
    expect(await waitFor(async () => (await statement()).status === 401, REFUSED_WAIT)).toBeDefined();
    expect((await statement()).body.erro).toBe('chave_api_invalida');
  });

  it('refuses a key once it has expired', async () => {
    const secret = await createKey(owner, { name: 'expires-soon', clients: 'all', scope: 'read', expiresInS: 2 });
    const statement = () => call('GET', '/clientes/1/extrato', `Bearer ${secret}`);
    expect(await waitFor(async () => (await statement()).status === 200, REFUSED_WAIT)).toBeDefined();
    expect(await waitFor(async () => (await statement()).status === 401, REFUSED_WAIT)).toBeDefined();
  });
});

describe('npm run keys', () => {
  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, [KEYS_ENTRY, ...args], {
      env: { ...process.env, DATABASE_OWNER_URL: database.ownerUrl },
    });

  it('creates a key shown once on its last line, lists keys without secrets, and revokes by name', async () => {
    const created = await run('create', '--name', 'cli-key', '--clients', '1,2', '--scope', 'read-write');
    const secret = created.stdout.trimEnd().split('\n').at(-1)!;
    expect(secret).toMatch(/^crb_[A-Za-z0-9_-]{43}$/);
    expect(
      await waitFor(
        async () => (await call('POST', '/clientes/2/transacoes', `Bearer ${secret}`, credit)).status === 200,
        REFUSED_WAIT,
      ),
    ).toBeDefined();
    expect((await call('POST', '/clientes/3/transacoes', `Bearer ${secret}`, credit)).status).toBe(403);

    const listed = (await run('list')).stdout;
    expect(listed).toMatch(/^cli-key\tclients 1,2\tread-write\t.*\tin force$/m);
    const hash = (await database.query<{ hash: Buffer }>("SELECT hash FROM chaves_api WHERE nome = 'cli-key'"))[0]!
      .hash;
    for (const shown of [secret, secret.slice(4), hash.toString('hex'), hash.toString('base64')])
      expect(listed).not.toContain(shown);

    await run('revoke', 'cli-key');
    expect((await run('list')).stdout).toMatch(/^cli-key\t.*\trevoked /m);
    expect(
      await waitFor(
        async () => (await call('GET', '/clientes/2/extrato', `Bearer ${secret}`)).status === 401,
        REFUSED_WAIT,
      ),
    ).toBeDefined();
  });

  it('regression: a key printed by create was refused (401) for up to a poll; one revoked was still served as long', async () => {
    const created = await run('create', '--name', 'at-once', '--clients', 'all', '--scope', 'read-write');
    const secret = created.stdout.trimEnd().split('\n').at(-1)!;
    expect((await call('POST', '/clientes/4/transacoes', `Bearer ${secret}`, credit)).status).toBe(200);
    await run('revoke', 'at-once');
    expect((await call('POST', '/clientes/4/transacoes', `Bearer ${secret}`, credit)).status).toBe(401);
  });

  it('refuses what it cannot do, saying why', async () => {
    await expect(run('revoke', 'no-such-key')).rejects.toMatchObject({
      stderr: expect.stringMatching(/no API key in force is named no-such-key/),
    });
    await expect(run('create', '--name', 'bad', '--clients', 'all', '--scope', 'admin')).rejects.toMatchObject({
      stderr: expect.stringMatching(/--scope is read or read-write/),
    });
    await expect(run('create', '--name', 'bad', '--clients', 'x', '--scope', 'read')).rejects.toMatchObject({
      stderr: expect.stringMatching(/--clients/),
    });
    await expect(run('create', '--name', 'cli-key', '--clients', 'all', '--scope', 'read')).rejects.toMatchObject({
      code: 1,
    });
  });
});
