// DATABASE_URL points npm start at a PostgreSQL it does not own: no embedded
// server is started, the schema is applied there, and the money lands there.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../../tools/harness/stack.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { postTransaction } from '../support/http.js';

let database: TestDatabase;
let stack: RunningStack;

beforeAll(async () => {
  database = await createTestDatabase();
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: { DATABASE_URL: database.url, DATABASE_OWNER_URL: database.ownerUrl, CREBITO_NGINX: 'off' },
  });
});

afterAll(async () => {
  await stack?.dispose();
  await database?.close();
});

describe('npm start with DATABASE_URL', () => {
  it('starts no embedded PostgreSQL and writes to the database it was given', async () => {
    expect(stack.state().postgres).toBeNull();
    expect(stack.state().databaseMode).toBeNull();
    expect(stack.output()).toContain('using the PostgreSQL at DATABASE_URL');

    const before = await database.balance(4);
    const response = await postTransaction(stack.baseUrl, 4, { valor: 321, tipo: 'c', descricao: 'externo' });
    expect(response.status).toBe(200);
    expect(response.body.saldo).toBe(before + 321);
    expect(await database.balance(4)).toBe(before + 321);
    expect(await database.query("SELECT valor FROM transacoes WHERE descricao = 'externo'")).toEqual([{ valor: 321 }]);
  });
});
