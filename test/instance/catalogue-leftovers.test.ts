// Regression: answers that were not the catalogue's, each against a
// real instance and database.
// - A read that timed out answered 503 banco_sem_resposta, which speaks of a
//   transaction that "may have been applied": a read applies nothing.
// - The admin listener dropped the connection on an unknown path.
// - The public /health showed the pid and the pool's internals to anyone.
// - Two Idempotency-Key headers: the first was used and the second ignored
//   (nginx 1.22 forwards only the first; an instance reached directly saw
//   both and read the first).

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failures } from '../../src/shared/failures.js';
import { freePort } from '../../tools/harness/stack.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { rawExchange, request, statusOf } from '../support/http.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

let database: TestDatabase;
let instance: RunningInstance;
let adminPort: number;

beforeAll(async () => {
  database = await createTestDatabase();
  adminPort = await freePort();
  instance = await startInstance({
    databaseUrl: database.url,
    environment: { CREBITO_ADMIN_LISTEN: `127.0.0.1:${adminPort}` },
  });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

describe('a read the database does not answer in time', () => {
  it('answers 503 leitura_sem_resposta, saying nothing was applied, for a statement and a history page', async () => {
    // An outside connection takes the table for itself: reads wait past the request deadline.
    const holder = new pg.Client({ connectionString: database.adminUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE transacoes IN ACCESS EXCLUSIVE MODE');
      const [statement, history] = await Promise.all([
        request(instance.baseUrl, 'GET', '/clientes/1/extrato'),
        request(instance.baseUrl, 'GET', '/clientes/2/transacoes'),
      ]);
      for (const answer of [statement, history]) {
        expect([answer.status, answer.text]).toEqual([503, failures.readUnanswered.body]);
        expect(answer.body.pode_ter_sido_aplicada).toBe(false);
        expect(answer.text).not.toMatch(/transaction may/);
      }
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });
});

describe('the admin listener', () => {
  it('answers an unknown path 404 and another method 405, from the catalogue, instead of dropping the connection', async () => {
    const unknown = await request(`http://127.0.0.1:${adminPort}`, 'GET', '/nada');
    expect([unknown.status, unknown.text]).toEqual([404, failures.routeNotFound.body]);
    const posted = await request(`http://127.0.0.1:${adminPort}`, 'POST', '/metrics');
    expect([posted.status, posted.body.erro]).toEqual([405, 'metodo_nao_permitido']);
    expect((await request(`http://127.0.0.1:${adminPort}`, 'GET', '/ready')).status).toBe(200);
  });
});

describe('/health', () => {
  it('shows the pid and the ledger numbers on the admin address only', async () => {
    const open = await request(instance.baseUrl, 'GET', '/health');
    expect(open.status).toBe(200);
    expect(Object.keys(open.body).sort()).toEqual(['draining', 'inFlight', 'instance', 'served']);
    const admin = await request(`http://127.0.0.1:${adminPort}`, 'GET', '/health');
    expect(admin.body.pid).toBe(instance.child.pid);
    expect(admin.body.ledger.pool).toHaveProperty('totalCount');
  });
});

describe('two Idempotency-Key headers', () => {
  it('are refused with 400 chave_idempotencia_duplicada, and nothing is applied', async () => {
    const before = await database.transactionCount(3);
    const body = '{"valor":5,"tipo":"c","descricao":"duas"}';
    const raw = await rawExchange(
      instance.port,
      `POST /clientes/3/transacoes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Idempotency-Key: primeira\r\nIdempotency-Key: segunda\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(statusOf(raw)).toBe(400);
    expect(raw).toContain(failures.duplicateIdempotencyKey.body);
    expect(await database.transactionCount(3)).toBe(before);
    // One key, the same request: applied.
    const single = await rawExchange(
      instance.port,
      `POST /clientes/3/transacoes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Idempotency-Key: primeira\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(statusOf(single)).toBe(200);
    expect(await database.transactionCount(3)).toBe(before + 1);
  });
});
