// The public contract (https://github.com/zanfranceschi/rinha-de-backend-2024-q1) as a table of requests and expected
// answers, defined once and run twice: against one instance directly
// (test/instance/contract.test.ts) and through nginx in front of two instances
// (test/stack/whole-stack.test.ts). Expected balances are never written down: each case
// reads the balance from the database before the request and checks the
// service's answer, and the database, against it.

import { describe, expect, it } from 'vitest';
import type { TestDatabase } from './database.js';
import { getStatement, postTransaction, rawExchange, statusOf } from './http.js';

export interface ContractTarget {
  baseUrl: string;
  port: number;
  database: TestDatabase;
}

export const SEEDED_LIMITS: Record<number, number> = { 1: 100000, 2: 80000, 3: 1000000, 4: 10000000, 5: 500000 };

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

const validCases: { name: string; clientId: number; body: { valor: number; tipo: 'c' | 'd'; descricao: string } }[] = [
  { name: 'a credit', clientId: 3, body: { valor: 1000, tipo: 'c', descricao: 'descricao' } },
  { name: 'a debit within the limit', clientId: 3, body: { valor: 700, tipo: 'd', descricao: 'debito' } },
  { name: 'a one-character descricao', clientId: 3, body: { valor: 1, tipo: 'c', descricao: 'x' } },
  { name: 'a ten-character descricao', clientId: 3, body: { valor: 1, tipo: 'c', descricao: '0123456789' } },
  {
    name: 'ten emoji (ten characters, forty bytes)',
    clientId: 3,
    body: { valor: 1, tipo: 'd', descricao: '😀'.repeat(10) },
  },
  { name: 'accented letters', clientId: 3, body: { valor: 2, tipo: 'c', descricao: 'ação çé' } },
  { name: 'the largest valor the column holds', clientId: 4, body: { valor: 2147483647, tipo: 'c', descricao: 'max' } },
  {
    name: 'a debit that lands exactly on -limite',
    clientId: 2,
    body: { valor: 80000, tipo: 'd', descricao: 'no limite' },
  },
];

// Raw bodies, sent as they are. Every one must get a 422 and change nothing.
const invalidBodies: { name: string; body: string | Buffer }[] = [
  { name: 'valor 1.2', body: '{"valor": 1.2, "tipo": "d", "descricao": "devolve"}' },
  { name: 'valor "10" as a string', body: '{"valor": "10", "tipo": "c", "descricao": "x"}' },
  { name: 'valor 0', body: '{"valor": 0, "tipo": "c", "descricao": "x"}' },
  { name: 'valor -5', body: '{"valor": -5, "tipo": "c", "descricao": "x"}' },
  { name: 'valor null', body: '{"valor": null, "tipo": "c", "descricao": "x"}' },
  { name: 'valor true', body: '{"valor": true, "tipo": "c", "descricao": "x"}' },
  { name: 'valor past the column (2147483648)', body: '{"valor": 2147483648, "tipo": "c", "descricao": "x"}' },
  { name: 'valor 1e300', body: '{"valor": 1e300, "tipo": "c", "descricao": "x"}' },
  { name: 'valor missing', body: '{"tipo": "c", "descricao": "x"}' },
  { name: 'tipo "x"', body: '{"valor": 1, "tipo": "x", "descricao": "devolve"}' },
  { name: 'tipo "C" (upper case)', body: '{"valor": 1, "tipo": "C", "descricao": "x"}' },
  { name: 'tipo "cd"', body: '{"valor": 1, "tipo": "cd", "descricao": "x"}' },
  { name: 'tipo null', body: '{"valor": 1, "tipo": null, "descricao": "x"}' },
  { name: 'tipo missing', body: '{"valor": 1, "descricao": "x"}' },
  {
    name: 'descricao too long (public test)',
    body: '{"valor": 1, "tipo": "c", "descricao": "123456789 e mais um pouco"}',
  },
  { name: 'descricao of 11 characters', body: '{"valor": 1, "tipo": "c", "descricao": "12345678901"}' },
  { name: 'descricao of 11 emoji', body: JSON.stringify({ valor: 1, tipo: 'c', descricao: '😀'.repeat(11) }) },
  { name: 'descricao ""', body: '{"valor": 1, "tipo": "c", "descricao": ""}' },
  { name: 'descricao null', body: '{"valor": 1, "tipo": "c", "descricao": null}' },
  { name: 'descricao a number', body: '{"valor": 1, "tipo": "c", "descricao": 12}' },
  { name: 'descricao missing', body: '{"valor": 1, "tipo": "c"}' },
  { name: 'descricao with a lone surrogate', body: '{"valor": 1, "tipo": "c", "descricao": "a\\ud800"}' },
  { name: 'descricao with a NUL character', body: '{"valor": 1, "tipo": "c", "descricao": "a\\u0000b"}' },
  { name: 'an empty body', body: '' },
  { name: 'an empty object', body: '{}' },
  { name: 'an array', body: '[]' },
  { name: 'null', body: 'null' },
  { name: 'a bare string', body: '"valor"' },
  { name: 'a bare number', body: '42' },
  { name: 'trailing garbage after the JSON', body: '{"valor": 1, "tipo": "c", "descricao": "x"}garbage' },
  {
    name: 'two JSON objects',
    body: '{"valor": 1, "tipo": "c", "descricao": "x"}{"valor": 1, "tipo": "c", "descricao": "x"}',
  },
  { name: 'truncated JSON', body: '{"valor": 1, "tipo": "c", "descri' },
  {
    name: 'bytes that are not UTF-8',
    body: Buffer.concat([
      Buffer.from('{"valor": 1, "tipo": "c", "descricao": "'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]),
  },
];

const unknownClientIds = ['6', '0', '-1', 'abc', '1a', '01', '2147483648', '99999999999999999999'];

export function defineContractTests(target: () => ContractTarget): void {
  async function snapshot(clientId: number) {
    const { database } = target();
    return { balance: await database.balance(clientId), transactions: await database.transactionCount(clientId) };
  }

  describe('valid transactions answer 200 with the limit and the new balance', () => {
    it.each(validCases)('$name', async ({ clientId, body }) => {
      const before = await snapshot(clientId);
      const response = await postTransaction(target().baseUrl, clientId, body);
      const expected = before.balance + (body.tipo === 'c' ? body.valor : -body.valor);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ limite: SEEDED_LIMITS[clientId], saldo: expected });
      expect(await snapshot(clientId)).toEqual({ balance: expected, transactions: before.transactions + 1 });

      const statement = await getStatement(target().baseUrl, clientId);
      expect(statement.body.ultimas_transacoes[0]).toMatchObject(body);
    });
  });

  describe('invalid bodies answer 422 and change nothing', () => {
    it.each(invalidBodies)('$name', async ({ body }) => {
      const before = await snapshot(1);
      const response = await fetch(`${target().baseUrl}/clientes/1/transacoes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : new Uint8Array(body),
      });
      expect(response.status).toBe(422);
      expect(await snapshot(1)).toEqual(before);
    });
  });

  it('a debit past -limite answers 422 and changes nothing', async () => {
    const { database, baseUrl } = target();
    const before = await snapshot(5);
    const response = await postTransaction(baseUrl, 5, {
      valor: before.balance + SEEDED_LIMITS[5]! + 1,
      tipo: 'd',
      descricao: 'demais',
    });
    expect(response.status).toBe(422);
    expect(await snapshot(5)).toEqual(before);
    expect(await database.balance(5)).toBeGreaterThanOrEqual(-SEEDED_LIMITS[5]!);
  });

  describe('unknown or malformed client ids answer 404 and change nothing', () => {
    it.each(unknownClientIds)('POST /clientes/%s/transacoes', async (clientId) => {
      const totalBefore = await target().database.transactionCount();
      const response = await postTransaction(target().baseUrl, clientId, { valor: 1, tipo: 'c', descricao: 'x' });
      expect(response.status).toBe(404);
      expect(await target().database.transactionCount()).toBe(totalBefore);
    });

    it.each(unknownClientIds)('GET /clientes/%s/extrato', async (clientId) => {
      expect((await getStatement(target().baseUrl, clientId)).status).toBe(404);
    });
  });

  it('a body larger than the cap answers 413 and changes nothing', async () => {
    const before = await snapshot(1);
    const huge = JSON.stringify({ valor: 1, tipo: 'c', descricao: 'x', padding: 'p'.repeat(10_000) });
    const response = await fetch(`${target().baseUrl}/clientes/1/transacoes`, { method: 'POST', body: huge });
    expect(response.status).toBe(413);
    expect(await snapshot(1)).toEqual(before);
  });

  it('the statement of a fresh client has balance 0, its limit, and no transactions', async () => {
    const response = await getStatement(target().baseUrl, 1);
    expect(response.status).toBe(200);
    // Client 1 has only been sent invalid bodies so far in this table.
    expect(response.body).toEqual({
      saldo: { total: 0, limite: SEEDED_LIMITS[1], data_extrato: expect.stringMatching(ISO_UTC) },
      ultimas_transacoes: [],
    });
    expect(await target().database.balance(1)).toBe(0);
  });

  it('the statement holds the ten newest transactions, newest first, exactly as sent', async () => {
    const { baseUrl, database } = target();
    const sent: { valor: number; tipo: 'c' | 'd'; descricao: string }[] = [];
    for (let index = 1; index <= 12; index++) {
      const body = { valor: index, tipo: index % 3 === 0 ? ('d' as const) : ('c' as const), descricao: `t${index}🙂` };
      expect((await postTransaction(baseUrl, 5, body)).status).toBe(200);
      sent.push(body);
    }
    const statement = await getStatement(baseUrl, 5);
    expect(statement.status).toBe(200);
    expect(statement.body.saldo).toMatchObject({ total: await database.balance(5), limite: SEEDED_LIMITS[5] });
    const newestTen = sent.slice(-10).reverse();
    expect(
      statement.body.ultimas_transacoes.map(({ valor, tipo, descricao }: Record<string, unknown>) => ({
        valor,
        tipo,
        descricao,
      })),
    ).toEqual(newestTen);
    for (const transaction of statement.body.ultimas_transacoes) expect(transaction.realizada_em).toMatch(ISO_UTC);
  });

  it('a client that drops the connection halfway through its body moves no money and breaks nothing', async () => {
    const { port, baseUrl } = target();
    const before = await snapshot(1);
    const partial =
      'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{"valor": 5, "tipo": "c"';
    await rawExchange(port, partial, 100);
    expect((await getStatement(baseUrl, 1)).status).toBe(200);
    expect(await snapshot(1)).toEqual(before);
  });

  it('unknown routes answer 404', async () => {
    const response = await fetch(`${target().baseUrl}/clientes/1/outra-coisa`);
    expect(response.status).toBe(404);
    expect(statusOf(await rawExchange(target().port, 'GET /nada HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe(404);
  });
}
