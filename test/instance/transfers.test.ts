// Transfers against a real instance where its bounds matter: a transfer whose
// call misses the deadline says its outcome is unknown, and a retry with its
// key tells what happened; a payee row held by another session is retried,
// never waited on, and applied once free; a key is one key across
// transactions and transfers; the metrics count transfers by outcome.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { readAdminHealth } from '../support/health.js';
import { holdTransactionInserts } from '../support/hold-calls.js';
import { request } from '../support/http.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

let database: TestDatabase;
let instance: RunningInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  // A deadline short enough to miss on purpose, a queue wait long enough to outlast a held row.
  instance = await startInstance({ databaseUrl: database.url, environment: { CREBITO_REQUEST_TIMEOUT_MS: '1500', CREBITO_QUEUE_WAIT_MS_MAX: '1000' } });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

async function transfer(from: number, body: object, key?: string): Promise<{ status: number; body: any; replayed: boolean }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== undefined) headers['idempotency-key'] = key;
  const response = await fetch(`${instance.baseUrl}/clientes/${from}/transferencias`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json(), replayed: response.headers.get('idempotent-replayed') === 'true' };
}

describe('a transfer at the edges', () => {
  it('past its deadline answers 503 saying it may have been applied; the retry with its key says it was', async () => {
    const blocker = await holdTransactionInserts(database.adminUrl);
    let late: Awaited<ReturnType<typeof transfer>>;
    try {
      late = await transfer(1, { para: 2, valor: 300, descricao: 'atrasada' }, 'pix-atrasada');
    } finally {
      await blocker.release();
    }
    expect([late.status, late.body.erro, late.body.pode_ter_sido_aplicada]).toEqual([503, 'banco_sem_resposta', true]);
    // The late call went on and committed once the inserts were free.
    await waitForOrThrow('the late transfer committed', async () => (await database.balance(2)) === 300, { timeoutMs: 10_000, intervalMs: 20 });
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
      await waitForOrThrow('the transfer sent again', async () => (await readAdminHealth(instance.admin)).ledger.transacoes.retried > 0, { timeoutMs: 5000, intervalMs: 10 });
      await holder.query('COMMIT');
      const answer = await pending;
      expect([answer.status, answer.body.saldo]).toEqual([200, -10]);
      expect(await database.balance(4)).toBe(10);
    } finally {
      await holder.end();
    }
  });

  it('refuses a key first used for a transaction, and the other way round, moving nothing', async () => {
    const credit = await request(instance.baseUrl, 'POST', '/clientes/5/transacoes', { valor: 1, tipo: 'c', descricao: 'x' });
    expect(credit.status).toBe(200);
    const keyed = await fetch(`${instance.baseUrl}/clientes/5/transacoes`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'uma-chave' }, body: JSON.stringify({ valor: 1, tipo: 'd', descricao: 'pix' }),
    });
    expect(keyed.status).toBe(200);
    const before = await database.transactionCount();
    const reused = await transfer(5, { para: 1, valor: 1, descricao: 'pix' }, 'uma-chave');
    expect([reused.status, reused.body.erro]).toEqual([422, 'chave_idempotencia_reutilizada']);
    await transfer(5, { para: 1, valor: 1, descricao: 'pix' }, 'outra-chave');
    const back = await fetch(`${instance.baseUrl}/clientes/5/transacoes`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'outra-chave' }, body: JSON.stringify({ valor: 1, tipo: 'd', descricao: 'pix' }),
    });
    expect([back.status, ((await back.json()) as { erro: string }).erro]).toEqual([422, 'chave_idempotencia_reutilizada']);
    expect(await database.transactionCount()).toBe(before + 2);
  });

  it('is counted by outcome in the metrics', async () => {
    await transfer(2, { para: 3, valor: 80_000_000, descricao: 'demais' });
    const metrics = await (await fetch(`http://${instance.admin}/metrics`)).text();
    const count = (result: string) => Number(new RegExp(`^crebito_transfers_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
    expect(count('applied')).toBeGreaterThanOrEqual(2);
    expect(count('refused')).toBe(1);
  });
});
