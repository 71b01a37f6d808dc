// Transfers against a real instance where its bounds matter: a transfer whose
// call misses the deadline says its outcome is unknown, and a retry with its
// key tells what happened; a payee row held by another session is retried,
// never waited on, and applied once free; a key is one key across
// transactions and transfers; the metrics count transfers by outcome.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { operationHealth } from '../../src/instance/ledger/ledger.js';
import { readAdminHealth } from '../support/health.js';
import { holdTransactionInserts } from '../support/hold-calls.js';
import { request } from '../support/http.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

let database: TestDatabase;
let instance: RunningInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  // A deadline short enough to miss on purpose, a queue wait long enough to outlast a held row.
  instance = await startInstance({
    databaseUrl: database.url,
    environment: { CREBITO_REQUEST_TIMEOUT_MS: '1500', CREBITO_QUEUE_WAIT_MS_MAX: '1000' },
  });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

interface Answer {
  status: number;
  body: any;
  replayed: boolean;
}

async function transfer(from: number, body: object, key?: string): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== undefined) headers['idempotency-key'] = key;
  const url = `${instance.baseUrl}/clientes/${from}/transferencias`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const replayed = response.headers.get('idempotent-replayed') === 'true';
  return { status: response.status, body: await response.json(), replayed };
}

/** A keyed POST transacoes. */
function keyedTransaction(clientId: number, body: object, key: string): Promise<Response> {
  return fetch(`${instance.baseUrl}/clientes/${clientId}/transacoes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  });
}

describe('a transfer at the edges', () => {
  it('past its deadline answers 503 saying it may have been applied; the retry with its key says it was', async () => {
    const blocker = await holdTransactionInserts(database.adminUrl);
    let late: Answer;
    try {
      late = await transfer(1, { para: 2, valor: 300, descricao: 'atrasada' }, 'pix-atrasada');
    } finally {
      await blocker.release();
    }
    expect([late.status, late.body.erro, late.body.pode_ter_sido_aplicada]).toEqual([503, 'banco_sem_resposta', true]);
    // The late call went on and committed once the inserts were free.
    const committed = async () => (await database.balance(2)) === 300;
    await waitForOrThrow('the late transfer committed', committed, { timeoutMs: 10_000, intervalMs: 20 });
    const retry = await transfer(1, { para: 2, valor: 300, descricao: 'atrasada' }, 'pix-atrasada');
    expect([retry.status, retry.replayed, retry.body.saldo]).toEqual([200, true, -300]);
    expect(await database.balance(1)).toBe(-300);
  });

  it('waits for no payee row another session holds: retried until free, applied once', async () => {
    const holder = new pg.Client({ connectionString: database.adminUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM clientes WHERE id = 4 FOR UPDATE');
      const pending = transfer(3, { para: 4, valor: 10, descricao: 'presa' });
      const retried = async () =>
        operationHealth((await readAdminHealth(instance.admin)).ledger, 'transacoes').retried > 0;
      await waitForOrThrow('the transfer sent again', retried, { timeoutMs: 5000, intervalMs: 10 });
      await holder.query('COMMIT');
      const answer = await pending;
      expect([answer.status, answer.body.saldo]).toEqual([200, -10]);
      expect(await database.balance(4)).toBe(10);
    } finally {
      await holder.end();
    }
  });

  it('refuses a key first used for a transaction, and the other way round, moving nothing', async () => {
    const body = { valor: 1, tipo: 'c', descricao: 'x' };
    const credit = await request(instance.baseUrl, 'POST', '/clientes/5/transacoes', body);
    expect(credit.status).toBe(200);
    const keyed = await keyedTransaction(5, { valor: 1, tipo: 'd', descricao: 'pix' }, 'uma-chave');
    expect(keyed.status).toBe(200);
    const before = await database.transactionCount();
    const reused = await transfer(5, { para: 1, valor: 1, descricao: 'pix' }, 'uma-chave');
    expect([reused.status, reused.body.erro]).toEqual([422, 'chave_idempotencia_reutilizada']);
    await transfer(5, { para: 1, valor: 1, descricao: 'pix' }, 'outra-chave');
    const back = await keyedTransaction(5, { valor: 1, tipo: 'd', descricao: 'pix' }, 'outra-chave');
    const backBody = (await back.json()) as { erro: string };
    expect([back.status, backBody.erro]).toEqual([422, 'chave_idempotencia_reutilizada']);
    expect(await database.transactionCount()).toBe(before + 2);
  });

  it('is counted by outcome in the metrics', async () => {
    await transfer(2, { para: 3, valor: 80_000_000, descricao: 'demais' });
    const metrics = await (await fetch(`http://${instance.admin}/metrics`)).text();
    const line = (result: string) => new RegExp(`^crebito_transfers_total\\{result="${result}"\\} (\\d+)$`, 'm');
    const count = (result: string) => Number(line(result).exec(metrics)?.[1]);
    expect(count('applied')).toBeGreaterThanOrEqual(2);
    expect(count('refused')).toBe(1);
  });
});
