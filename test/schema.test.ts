// The schema and the functions straight through SQL: setup is idempotent, and
// the money rules hold in the database even for writes that skip the service.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySchema } from '../src/schema.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { SEEDED_LIMITS } from './support/contract.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.close();
});

describe('schema setup', () => {
  it('seeds clients 1 to 5 with their limits and balance 0, and no client 6', async () => {
    const rows = await database.query<{ id: number; limite: number; saldo: string }>('SELECT id, limite, saldo FROM clientes ORDER BY id');
    expect(rows.map((row) => [row.id, row.limite, Number(row.saldo)])).toEqual(
      Object.entries(SEEDED_LIMITS).map(([id, limite]) => [Number(id), limite, 0]));
  });

  it('applying it again keeps balances and history', async () => {
    await database.query("SELECT registrar_transacao(1, 500, 'd', 'antes')");
    const before = await database.query('SELECT * FROM transacoes ORDER BY id');
    await applySchema(database.url);
    await applySchema(database.url);
    expect(await database.balance(1)).toBe(-500);
    expect(await database.query('SELECT * FROM transacoes ORDER BY id')).toEqual(before);
  });

  it('has the (cliente_id, id DESC) index the statement reads through', async () => {
    const rows = await database.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE tablename = 'transacoes'");
    expect(rows.map((row) => row.indexdef)).toContainEqual(expect.stringContaining('(cliente_id, id DESC)'));
  });
});

describe('money rules in the database', () => {
  it('registrar_transacao refuses a debit past -limite and records nothing', async () => {
    const before = await database.transactionCount(2);
    const [row] = await database.query('SELECT * FROM registrar_transacao(2, $1, $2, $3)', [SEEDED_LIMITS[2]! + 1, 'd', 'demais']);
    expect(row).toMatchObject({ resultado: 2, limite: SEEDED_LIMITS[2] });
    expect(await database.balance(2)).toBe(0);
    expect(await database.transactionCount(2)).toBe(before);
  });

  it('registrar_transacao reports an unknown client', async () => {
    const [row] = await database.query("SELECT * FROM registrar_transacao(6, 1, 'c', 'x')");
    expect(row).toMatchObject({ resultado: 1, limite: null, saldo: null });
  });

  it.each([
    ['a balance below -limite', 'UPDATE clientes SET saldo = -limite - 1 WHERE id = 3'],
    ['a zero valor', "INSERT INTO transacoes (cliente_id, valor, tipo, descricao) VALUES (3, 0, 'c', 'x')"],
    ['a tipo other than c or d', "INSERT INTO transacoes (cliente_id, valor, tipo, descricao) VALUES (3, 1, 'x', 'x')"],
    ['an empty descricao', "INSERT INTO transacoes (cliente_id, valor, tipo, descricao) VALUES (3, 1, 'c', '')"],
    ['a transaction of client 6', "INSERT INTO transacoes (cliente_id, valor, tipo, descricao) VALUES (6, 1, 'c', 'x')"],
  ])('CHECK constraints refuse %s written directly', async (_, statement) => {
    await expect(database.query(statement)).rejects.toBeInstanceOf(pg.DatabaseError);
  });
});
