// Transfers through the whole stack, as `npm start` runs it (nginx in front
// of two instances, the embedded PostgreSQL, API keys off; keys on are in
// test/instance/api-keys.test.ts): the answer and both sides' books, every
// refusal moving nothing, a keyed transfer made once and replayed byte for
// byte, transfers and transactions sharing one call answered in arrival
// order, and the contract's statement keeping its exact shape.

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../../tools/harness/stack.js';
import { openDatabase, type TestDatabase } from '../support/database.js';
import { operationHealth } from '../../src/instance/ledger/ledger.js';
import { readAdminHealth } from '../support/health.js';
import { holdTransactionInserts } from '../support/hold-calls.js';
import { getStatement, postTransaction, request, type JsonResponse } from '../support/http.js';
import { LEAN_STACK } from '../support/lean-stack.js';

let stack: RunningStack;
let database: TestDatabase;
let baseUrl: string;

beforeAll(async () => {
  const port = await freePort();
  stack = await startStack({ port, dataDirectory: makeDataDirectory(), environment: LEAN_STACK });
  baseUrl = `http://127.0.0.1:${port}`;
  database = openDatabase(stack.state().databaseUrl);
});

afterAll(async () => {
  await database?.close();
  await stack?.dispose();
});

type TransferResponse = JsonResponse & { replayed: boolean };

async function transfer(from: number | string, body: unknown, key?: string): Promise<TransferResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== undefined) headers['idempotency-key'] = key;
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const url = `${baseUrl}/clientes/${from}/transferencias`;
  const response = await fetch(url, { method: 'POST', headers, body: payload });
  const text = await response.text();
  const replayed = response.headers.get('idempotent-replayed') === 'true';
  const parsed = text === '' ? undefined : JSON.parse(text);
  return { status: response.status, body: parsed, text, headers: response.headers, replayed };
}

/** A POST straight to one instance's unix socket, past nginx. */
function postToSocket(socketPath: string, path: string, body: object): Promise<{ status: number; body: any }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    const sent = http.request({ socketPath, method: 'POST', path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      const answer = () => ({ status: response.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      response.on('end', () => resolve(answer()));
      response.on('error', reject);
    });
    sent.on('error', reject);
    sent.end(payload);
  });
}

const books = async () => {
  const rows = await database.query<{ id: number; saldo: string; n: number }>(
    `SELECT c.id, c.saldo, (SELECT count(*)::int FROM transacoes t WHERE t.cliente_id = c.id) AS n
       FROM clientes c ORDER BY c.id`,
  );
  return rows.map((row) => ({ id: row.id, saldo: Number(row.saldo), n: row.n }));
};

describe('a transfer through nginx', () => {
  it("answers the payer's limite, saldo, transfer id; each statement shows its row; the history links", async () => {
    const answer = await transfer(1, { para: 2, valor: 1500, descricao: 'pix' });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body).toEqual({ limite: 100000, saldo: -1500, transferencia: expect.any(Number) });
    const payer = await getStatement(baseUrl, 1);
    const payee = await getStatement(baseUrl, 2);
    expect(payer.body.saldo.total).toBe(-1500);
    expect(payee.body.saldo.total).toBe(1500);
    // The contract's shape, exactly: the same four fields as a transaction.
    const row = (tipo: string) => [{ valor: 1500, tipo, descricao: 'pix', realizada_em: expect.any(String) }];
    expect(payer.body.ultimas_transacoes).toEqual(row('d'));
    expect(payee.body.ultimas_transacoes).toEqual(row('c'));
    const payerPage = await request(baseUrl, 'GET', '/clientes/1/transacoes');
    const payeePage = await request(baseUrl, 'GET', '/clientes/2/transacoes');
    const { transferencia } = answer.body;
    expect(payerPage.body.transacoes[0]).toMatchObject({ tipo: 'd', transferencia, contraparte: 2, saldo_apos: -1500 });
    expect(payeePage.body.transacoes[0]).toMatchObject({ tipo: 'c', transferencia, contraparte: 1, saldo_apos: 1500 });
    // A plain transaction's row carries neither.
    await postTransaction(baseUrl, 2, { valor: 1, tipo: 'd', descricao: 'tarifa' });
    const newest = (await request(baseUrl, 'GET', '/clientes/2/transacoes')).body.transacoes[0];
    expect(Object.keys(newest).sort()).toEqual(['descricao', 'id', 'realizada_em', 'saldo_apos', 'tipo', 'valor']);
  });

  it.each([
    ['to itself', 3, { para: 3, valor: 1, descricao: 'x' }, 422, 'transferencia_para_si'],
    ['to an unknown client', 3, { para: 6, valor: 1, descricao: 'x' }, 422, 'destinatario_nao_encontrado'],
    ['from an unknown client', 6, { para: 3, valor: 1, descricao: 'x' }, 404, 'cliente_nao_encontrado'],
    ["past the payer's limit", 2, { para: 3, valor: 80_000 + 1_500, descricao: 'x' }, 422, 'limite_excedido'],
    ['with para as text', 3, { para: '2', valor: 1, descricao: 'x' }, 422, 'para_invalido'],
    ['without para', 3, { valor: 1, descricao: 'x' }, 422, 'para_invalido'],
    ['with a fractional valor', 3, '{"para": 2, "valor": 1.0, "descricao": "x"}', 422, 'valor_invalido'],
    ['with an empty descricao', 3, { para: 2, valor: 1, descricao: '' }, 422, 'descricao_invalida'],
    ['with a body that is not JSON', 3, '{"para": 2,', 422, 'json_invalido'],
  ])('%s: %i %s, and nothing moves', async (_what, from, body, status, code) => {
    const before = await books();
    const answer = await transfer(from, body);
    expect(answer.status, answer.text).toBe(status);
    expect(answer.body.erro).toBe(code);
    expect(await books()).toEqual(before);
  });

  it('with an Idempotency-Key is made once: a retry gets the same bytes; another body is refused', async () => {
    const key = randomUUID();
    const first = await transfer(4, { para: 5, valor: 700, descricao: 'aluguel' }, key);
    const after = await books();
    const retry = await transfer(4, { para: 5, valor: 700, descricao: 'aluguel' }, key);
    expect(first.status).toBe(200);
    expect([retry.status, retry.text, retry.replayed]).toEqual([200, first.text, true]);
    const other = await transfer(4, { para: 3, valor: 700, descricao: 'aluguel' }, key);
    expect(other.body.erro).toBe('chave_idempotencia_reutilizada');
    expect(await books()).toEqual(after);
  });

  it('shares one call with transactions on an instance, answered in arrival order, and conserves money', async () => {
    // nginx gives transfers a home of their own; straight to one instance's
    // socket, transactions and transfers of the same clients meet in one queue.
    const [instance] = stack.state().instances;
    const socket = instance!.listen.slice('unix:'.length);
    const send = (route: string, from: number, body: object) =>
      postToSocket(socket, `/clientes/${from}/${route}`, body);
    const waitingThere = async () => operationHealth((await readAdminHealth(instance!.admin!)).ledger, 'transacoes');
    const before = await books();
    const sum = (all: { saldo: number }[]) => all.reduce((total, row) => total + row.saldo, 0);
    // Held inserts keep the first call in the database; what follows queues behind it and shares the next call.
    const blocker = await holdTransactionInserts(database.adminUrl);
    let answers: { status: number; body: any }[];
    try {
      const first = send('transacoes', 3, { valor: 10, tipo: 'c', descricao: 'primeira' });
      const poll = { timeoutMs: 5000, intervalMs: 10 };
      await waitForOrThrow('the first call in flight', async () => (await waitingThere()).inFlight === 1, poll);
      const rest = [
        send('transferencias', 3, { para: 4, valor: 100, descricao: 'lote1' }),
        send('transacoes', 3, { valor: 5, tipo: 'd', descricao: 'lote2' }),
        send('transferencias', 3, { para: 5, valor: 1_000_000_000, descricao: 'lote3' }),
        send('transferencias', 3, { para: 1, valor: 50, descricao: 'lote4' }),
      ];
      await waitForOrThrow('the rest queued', async () => (await waitingThere()).waiting === 4, poll);
      await blocker.release();
      answers = await Promise.all([first, ...rest]);
    } finally {
      await blocker.release();
    }
    const saldo3 = before.find((row) => row.id === 3)!.saldo;
    expect(answers.map((answer) => [answer.status, answer.body.saldo ?? answer.body.erro])).toEqual([
      [200, saldo3 + 10],
      [200, saldo3 - 90],
      [200, saldo3 - 95],
      [422, 'limite_excedido'],
      [200, saldo3 - 145],
    ]);
    expect(sum(await books())).toBe(sum(before) + 10 - 5);
    const calls = await database.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM transacoes WHERE descricao IN ('lote1', 'lote2', 'lote4')",
    );
    expect(calls[0]!.n).toBe(5);
  });
});
