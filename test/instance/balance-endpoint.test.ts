// GET /clientes/{id}/saldo through a real instance on a real database: the
// balance and limit a statement shows, after writes, for clients read
// together in one call; 404 for a client that does not exist.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failures } from '../../src/shared/failures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { getStatement, postTransaction, request } from '../support/http.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

let database: TestDatabase;
let instance: RunningInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  instance = await startInstance({ databaseUrl: database.url });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

const balance = (clientId: number | string) => request(instance.baseUrl, 'GET', `/clientes/${clientId}/saldo`);

describe('GET /clientes/{id}/saldo', () => {
  it('answers the balance and limit the statement shows, after a debit', async () => {
    expect((await postTransaction(instance.baseUrl, 3, { valor: 700, tipo: 'd', descricao: 'saldo' })).status).toBe(200);
    const answer = await balance(3);
    const statement = await getStatement(instance.baseUrl, 3);
    expect(answer.status, answer.text).toBe(200);
    const { total, limite } = (statement.body as { saldo: { total: number; limite: number } }).saldo;
    expect(answer.body).toEqual({ saldo: total, limite });
    expect(answer.body).toEqual({ saldo: -700, limite: (await database.query('SELECT limite FROM clientes WHERE id = 3'))[0]!.limite });
  });

  it('answers each of many clients read at once with its own balance', async () => {
    const answers = await Promise.all([1, 2, 4, 5, 1, 2, 4, 5].map((clientId) => balance(clientId)));
    const expected = await Promise.all([1, 2, 4, 5, 1, 2, 4, 5].map((clientId) => database.balance(clientId)));
    expect(answers.map((answer) => (answer.body as { saldo: number }).saldo)).toEqual(expected);
  });

  it.each(['6', '0', 'x', '2147483648'])('answers 404 for client %s', async (clientId) => {
    const answer = await balance(clientId);
    expect([answer.status, answer.text]).toEqual([404, failures.clientNotFound.body]);
  });
});
