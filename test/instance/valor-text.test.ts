// Money typed as a fraction was rounded: {"valor": 0.99999999999999999} was
// read as the double 1 and booked as 1 cent with a 200. Through a real
// socket to a real instance: a valor written any way but plain digits is a
// 422 that changes nothing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failures } from '../../src/shared/failures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { postTransaction } from '../support/http.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

const CLIENT_ID = 2;

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

describe('regression: money typed as a fraction was rounded and booked', () => {
  it.each(['0.99999999999999999', '1.0000000000000001', '1.0', '1e3', '1E0', '100e-2'])(
    'valor written %s is 422 valor_invalido, and nothing moves',
    async (text) => {
      const before = await database.balance(CLIENT_ID);
      const answer = await postTransaction(
        instance.baseUrl,
        CLIENT_ID,
        `{"valor": ${text}, "tipo": "c", "descricao": "fracao"}`,
      );
      expect([answer.status, answer.text]).toEqual([422, failures.invalidValor.body]);
      expect(await database.balance(CLIENT_ID)).toBe(before);
      expect(await database.query("SELECT 1 FROM transacoes WHERE descricao = 'fracao'")).toEqual([]);
    },
  );

  it('valor written as plain digits is booked as written', async () => {
    const before = await database.balance(CLIENT_ID);
    const answer = await postTransaction(
      instance.baseUrl,
      CLIENT_ID,
      '{"valor": 1000, "tipo": "c", "descricao": "inteiro"}',
    );
    expect(answer.status).toBe(200);
    expect(await database.balance(CLIENT_ID)).toBe(before + 1000);
  });
});
