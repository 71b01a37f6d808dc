// What a failed database call means (src/instance/database/errors.ts): an
// allowlist, checked against errors raised for real where they can be.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyDatabaseError } from '../../src/instance/database/errors.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.close();
});

async function errorOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected the work to fail');
}

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('classifyDatabaseError', () => {
  it('regression: pg-pool\'s "Cannot use a pool after calling end" was classed as a 503; it is a bug', async () => {
    const pool = new pg.Pool({ connectionString: database.adminUrl });
    await pool.end();
    expect(classifyDatabaseError(await errorOf(() => pool.query('SELECT 1')))).toBe('bug');
  });

  it.each([
    ['a statement timeout (57014)', 'SET statement_timeout = 10; SELECT pg_sleep(1)', 'unavailable'],
    [
      'a CHECK violation (23514)',
      "INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos) VALUES (1, 0, 'c', 'x', 0)",
      'rejected',
    ],
    [
      'a foreign key violation (23503)',
      "INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos) VALUES (6, 1, 'c', 'x', 1)",
      'rejected',
    ],
    [
      'a value too long (22001)',
      "INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos) VALUES (1, 1, 'c', 'onze letras', 1)",
      'rejected',
    ],
    ['a misspelt function: our SQL disagrees with the schema (42883)', 'SELECT registrar_transacaoo(1)', 'bug'],
    ['a syntax error (42601)', 'SELEC 1', 'bug'],
  ])('%s is %s', async (_, text, expected) => {
    const client = new pg.Client({ connectionString: database.adminUrl });
    await client.connect();
    try {
      expect(classifyDatabaseError(await errorOf(() => client.query(text)))).toBe(expected);
    } finally {
      await client.end();
    }
  });

  it('a refused connection is unavailable', async () => {
    const client = new pg.Client({ connectionString: 'postgresql://nobody@127.0.0.1:1/none' });
    expect(classifyDatabaseError(await errorOf(() => client.connect()))).toBe('unavailable');
  });

  it('a unix socket that is not there (PostgreSQL down) is unavailable', async () => {
    const client = new pg.Client({ connectionString: 'postgresql://nobody@/none?host=/nonexistent-crebito-dir' });
    expect(classifyDatabaseError(await errorOf(() => client.connect()))).toBe('unavailable');
  });

  it.each([
    [withCode('write EPIPE', 'EPIPE'), 'unavailable'],
    [withCode('read ECONNRESET', 'ECONNRESET'), 'unavailable'],
    [new Error('Connection terminated unexpectedly'), 'unavailable'],
    [new Error('Query read timeout'), 'unavailable'],
    [new Error('timeout exceeded when trying to connect'), 'unavailable'],
    [new TypeError("Cannot read properties of undefined (reading 'rows')"), 'bug'],
    [new Error('something nobody listed'), 'bug'],
    ['not even an Error', 'bug'],
  ])('%s is %s', (error, expected) => {
    expect(classifyDatabaseError(error)).toBe(expected);
  });
});
