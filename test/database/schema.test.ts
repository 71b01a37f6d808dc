// The schema and the functions straight through SQL: setup is idempotent, and
// the money rules hold in the database even for writes that skip the service.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySchema } from '../../src/stack/schema.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { SEEDED_LIMITS } from '../support/contract.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.close();
});

describe('schema setup', () => {
  it('seeds clients 1 to 5 with their limits and balance 0, and no client 6', async () => {
    const rows = await database.query<{ id: number; limite: number; saldo: string }>(
      'SELECT id, limite, saldo FROM clientes ORDER BY id',
    );
    expect(rows.map((row) => [row.id, row.limite, Number(row.saldo)])).toEqual(
      Object.entries(SEEDED_LIMITS).map(([id, limite]) => [Number(id), limite, 0]),
    );
  });

  it('applying it again keeps balances and history', async () => {
    await database.query("SELECT registrar_transacao(1, 500, 'd', 'antes')");
    const before = await database.query('SELECT * FROM transacoes ORDER BY id');
    await applySchema(database.ownerUrl);
    await applySchema(database.ownerUrl);
    expect(await database.balance(1)).toBe(-500);
    expect(await database.query('SELECT * FROM transacoes ORDER BY id')).toEqual(before);
  });

  it('a database from before saldo_apos gets it computed for every old row, losing none, once', async () => {
    const old = await createTestDatabase();
    try {
      const moves = [
        [1, 500, 'd'],
        [2, 70, 'c'],
        [1, 200, 'c'],
        [1, 99_000, 'd'],
        [2, 80_070, 'd'],
        [3, 1, 'c'],
        [1, 1, 'd'],
      ] as const;
      for (const [cliente, valor, tipo] of moves)
        await old.query('SELECT registrar_transacao($1, $2, $3, $4)', [cliente, valor, tipo, 'antiga']);
      const written = await old.query('SELECT * FROM transacoes ORDER BY id');
      // The shape of a database made before the column existed.
      await old.query('ALTER TABLE transacoes DROP COLUMN saldo_apos');
      await applySchema(old.ownerUrl);
      expect(await old.query('SELECT * FROM transacoes ORDER BY id')).toEqual(written);
      expect(written.map((row) => Number(row.saldo_apos))).toEqual([-500, 70, -300, -99_300, -80_000, 1, -99_301]);
      const [column] = await old.query(
        "SELECT NOT attnotnull AS nullable FROM pg_attribute WHERE attrelid = 'transacoes'::regclass AND attname = 'saldo_apos'",
      );
      expect(column!.nullable).toBe(false);
      await applySchema(old.ownerUrl);
      expect(await old.query('SELECT * FROM transacoes ORDER BY id')).toEqual(written);
    } finally {
      await old.close();
    }
  });

  it('has the (cliente_id, id DESC) index the statement reads through', async () => {
    const rows = await database.query<{ indexdef: string }>(
      "SELECT indexdef FROM pg_indexes WHERE tablename = 'transacoes'",
    );
    expect(rows.map((row) => row.indexdef)).toContainEqual(expect.stringContaining('(cliente_id, id DESC)'));
  });
});

describe('money rules in the database', () => {
  it('registrar_transacao refuses a debit past -limite and records nothing', async () => {
    const before = await database.transactionCount(2);
    const [row] = await database.query('SELECT * FROM registrar_transacao(2, $1, $2, $3)', [
      SEEDED_LIMITS[2]! + 1,
      'd',
      'demais',
    ]);
    expect(row).toMatchObject({ resultado: 'limite_excedido', limite: SEEDED_LIMITS[2] });
    expect(await database.balance(2)).toBe(0);
    expect(await database.transactionCount(2)).toBe(before);
  });

  it('registrar_transacao reports an unknown client', async () => {
    const [row] = await database.query("SELECT * FROM registrar_transacao(6, 1, 'c', 'x')");
    expect(row).toMatchObject({ resultado: 'cliente_nao_encontrado', limite: null, saldo: null });
  });

  it.each([
    ['a balance below -limite', 'UPDATE clientes SET saldo = -limite - 1 WHERE id = 3'],
    [
      'a zero valor',
      "INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos) VALUES (3, 0, 'c', 'x', 0)",
    ],
    [
      'a tipo other than c or d',
      "INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos) VALUES (3, 1, 'x', 'x', 1)",
    ],
    [
      'an empty descricao',
      "INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos) VALUES (3, 1, 'c', '', 1)",
    ],
    [
      'a transaction of client 6',
      "INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos) VALUES (6, 1, 'c', 'x', 1)",
    ],
  ])('CHECK constraints refuse %s written directly', async (_, statement) => {
    await expect(database.query(statement)).rejects.toBeInstanceOf(pg.DatabaseError);
  });
});

describe('shared commits: registrar_transacoes', () => {
  it('gives each transaction of a batch the outcome the one-at-a-time function gives, in order', async () => {
    // The same sequence, applied one call at a time on one database and as
    // one batch on another: outcomes, balances and stored rows must agree.
    const sequence = [
      [1, 60000, 'd', 'um'],
      [2, 50000, 'd', 'dois'],
      [1, 50000, 'd', 'recusada'],
      [6, 10, 'c', 'ninguem'],
      [1, 20000, 'c', 'volta'],
      [1, 60000, 'd', 'agora sim'],
      [3, 1, 'c', 'três'],
      [2, 30001, 'd', 'passa'],
      [2, 30000, 'd', 'exata'],
      [5, 2147483647, 'c', 'enorme'],
    ] as const;
    const oneByOne = await createTestDatabase();
    const batched = await createTestDatabase();
    try {
      const expected = [];
      for (const [cliente, valor, tipo, descricao] of sequence) {
        expected.push(
          (
            await oneByOne.query('SELECT * FROM registrar_transacao($1, $2, $3, $4)', [cliente, valor, tipo, descricao])
          )[0],
        );
      }
      const columns = [0, 1, 2, 3].map((column) => sequence.map((entry) => entry[column]));
      const actual = await batched.query('SELECT * FROM registrar_transacoes($1, $2, $3, $4)', columns);
      expect(actual).toEqual(expected);
      expect(actual.map((row) => row.resultado)).toEqual([
        'aplicada',
        'aplicada',
        'limite_excedido',
        'cliente_nao_encontrado',
        'aplicada',
        'aplicada',
        'aplicada',
        'limite_excedido',
        'aplicada',
        'aplicada',
      ]);

      const stored = (database: TestDatabase) =>
        database.query('SELECT cliente_id, valor, tipo, descricao FROM transacoes ORDER BY id');
      expect(await stored(batched)).toEqual(await stored(oneByOne));
      const balances = (database: TestDatabase) => database.query('SELECT id, saldo FROM clientes ORDER BY id');
      expect(await balances(batched)).toEqual(await balances(oneByOne));
    } finally {
      await oneByOne.close();
      await batched.close();
    }
  });

  it('with idempotency keys, answers and stores what one call at a time does: a repeat is a replay, another body a refusal', async () => {
    const sequence = [
      [1, 100, 'd', 'a', 'k1'],
      [1, 100, 'd', 'a', 'k1'],
      [1, 101, 'd', 'a', 'k1'],
      [2, 5, 'c', 'x', 'k1'],
      [1, 200000, 'd', 'grande', 'k2'],
      [1, 200000, 'd', 'grande', 'k2'],
      [6, 1, 'c', 'ninguem', 'k3'],
      [3, 1, 'c', 'sem', null],
      [3, 1, 'c', 'sem', null],
      [1, 7, 'c', 'depois', 'k4'],
    ] as const;
    const oneByOne = await createTestDatabase();
    const batched = await createTestDatabase();
    try {
      const expected = [];
      for (const [cliente, valor, tipo, descricao, chave] of sequence) {
        expected.push(
          (
            await oneByOne.query('SELECT * FROM registrar_transacao($1, $2, $3, $4, $5, 0)', [
              cliente,
              valor,
              tipo,
              descricao,
              chave,
            ])
          )[0],
        );
      }
      const columns = [0, 1, 2, 3, 4].map((column) => sequence.map((entry) => entry[column]));
      const actual = await batched.query('SELECT * FROM registrar_transacoes($1, $2, $3, $4, $5, 0)', columns);
      expect(actual).toEqual(expected);
      expect(actual.map((row) => [row.resultado, row.repetida])).toEqual([
        ['aplicada', false],
        ['aplicada', true],
        ['chave_idempotencia_reutilizada', false],
        ['aplicada', false],
        ['limite_excedido', false],
        ['limite_excedido', true],
        ['cliente_nao_encontrado', false],
        ['aplicada', false],
        ['aplicada', false],
        ['aplicada', false],
      ]);

      const stored = (database: TestDatabase) =>
        database.query('SELECT cliente_id, valor, tipo, descricao, saldo_apos FROM transacoes ORDER BY id');
      expect(await stored(batched)).toEqual(await stored(oneByOne));
      const keys = (database: TestDatabase) =>
        database.query(
          'SELECT cliente_id, chave, valor, tipo, descricao, resultado, limite, saldo FROM chaves_idempotencia ORDER BY cliente_id, chave',
        );
      expect(await keys(batched)).toEqual(await keys(oneByOne));
      expect((await keys(batched)).map((row) => `${row.cliente_id}:${row.chave}`)).toEqual([
        '1:k1',
        '1:k2',
        '1:k4',
        '2:k1',
      ]);
    } finally {
      await oneByOne.close();
      await batched.close();
    }
  });

  it('regression: a plan kept from when the key table was empty read the whole table on every keyed call', async () => {
    const scratch = await createTestDatabase();
    const session = new pg.Client({ connectionString: scratch.adminUrl });
    const plans: string[] = [];
    session.on('notice', (notice) => plans.push(notice.message ?? ''));
    await session.connect();
    try {
      const batch = (prefix: string) =>
        session.query('SELECT count(*) FROM registrar_transacoes($1, $2, $3, $4, $5, 0)', [
          [1, 2, 3],
          [1, 1, 1],
          ['c', 'c', 'c'],
          ['x', 'y', 'z'],
          [`${prefix}a`, `${prefix}b`, `${prefix}c`],
        ]);
      const single = (key: string) =>
        session.query("SELECT count(*) FROM registrar_transacao(1, 1, 'c', 'x', $1, 0)", [key]);
      // Past the five custom plans, so that the session keeps a generic one, made now, while the table is nearly empty.
      for (let round = 0; round < 8; round++) {
        await batch(`antes${round}`);
        await single(`antes${round}`);
      }
      await scratch.query(`
        INSERT INTO chaves_idempotencia (cliente_id, chave, valor, tipo, descricao, resultado, limite, saldo)
        SELECT 4, 'muitas' || g, 1, 'c', 'x', 'aplicada', 0, 0 FROM generate_series(1, 20000) g`);
      for (const setting of [
        "LOAD 'auto_explain'",
        'SET auto_explain.log_min_duration = 0',
        'SET auto_explain.log_nested_statements = on',
        "SET auto_explain.log_level = 'notice'",
      ])
        await session.query(setting);
      await batch('depois');
      await single('depois');
    } finally {
      await session.end();
      await scratch.close();
    }
    // The two lookups: the batch's join and the single call's read.
    const lookups = plans.filter((plan) => / on chaves_idempotencia/.test(plan) && !plan.includes('Insert on'));
    expect(lookups, plans.join('\n---\n')).toHaveLength(2);
    for (const plan of lookups) {
      expect(plan).toContain('Index Scan using chaves_idempotencia_pkey');
      expect(plan).not.toMatch(/Seq Scan on chaves_idempotencia|Hash/);
    }
  });

  it('refuses arrays of different lengths', async () => {
    await expect(database.query("SELECT * FROM registrar_transacoes('{1,2}', '{1}', '{c}', '{x}')")).rejects.toThrow(
      /different lengths/,
    );
    await expect(
      database.query("SELECT * FROM registrar_transacoes('{1}', '{1}', '{c}', '{x}', '{k,l}', 0)"),
    ).rejects.toThrow(/different lengths/);
  });
});

describe('shared reads: extratos', () => {
  it('answers each position as a read of that client alone would, and leaves unknown clients out', async () => {
    const rows = await database.query('SELECT ordem, saldo, limite, valor, tipo, descricao FROM extratos($1, 10)', [
      [2, 6, 1, 2],
    ]);
    const forPosition = (position: number) =>
      rows.filter((row) => row.ordem === position).map(({ ordem, ...rest }) => rest);
    const single = async (id: number) =>
      database.query('SELECT saldo, limite, valor, tipo, descricao FROM extratos(ARRAY[$1::integer], 10)', [id]);
    expect(forPosition(1)).toEqual(await single(2));
    expect(forPosition(2)).toEqual([]);
    expect(forPosition(3)).toEqual(await single(1));
    expect(forPosition(4)).toEqual(await single(2));
  });
});
