// registrar_movimentos straight through SQL, as the instances' role calls it:
// a transfer moves money between two clients atomically and by the money
// rules, batches mix transfers and transactions in arrival order, keys make a
// transfer exactly once, opposite transfers at once never deadlock, and the
// schema refuses a transfer without both its rows whatever writes it.

import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { SEEDED_LIMITS } from '../support/contract.js';

let database: TestDatabase;
let api: pg.Pool;

interface Outcome {
  resultado: string;
  limite: number | null;
  saldo: string | null;
  repetida: boolean;
  transferencia: string | null;
}

const CALL = 'SELECT * FROM registrar_movimentos($1, $2, $3, $4, $5, $6, $7, $8)';

/** Items as [payer, payee or null, valor, tipo, descricao, key?]. */
type Item = [number, number | null, number, string, string, string?];

async function move(items: Item[], client: pg.Pool | pg.PoolClient = api): Promise<Outcome[]> {
  const keyed = items.some((item) => item[5] !== undefined);
  const column = (index: number) => items.map((item) => item[index] ?? null);
  const values = [column(0), column(1), column(2), column(3), column(4), keyed ? column(5) : null, 100, null];
  const { rows } = await client.query<Outcome>(CALL, values);
  return rows;
}

const transfer = (from: number, to: number, valor: number, key?: string): Item => [from, to, valor, 't', 'pix', key];

async function balances(): Promise<Record<number, number>> {
  const rows = await database.query<{ id: number; saldo: string }>('SELECT id, saldo FROM clientes ORDER BY id');
  return Object.fromEntries(rows.map((row) => [row.id, Number(row.saldo)]));
}

const total = (all: Record<number, number>) => Object.values(all).reduce((sum, saldo) => sum + saldo, 0);

beforeAll(async () => {
  database = await createTestDatabase();
  api = new pg.Pool({ connectionString: database.url, max: 6 });
});

afterAll(async () => {
  await api?.end();
  await database?.close();
});

describe('a transfer', () => {
  it('debits the payer and credits the payee in one call, two rows naming one transfer', async () => {
    const [outcome] = await move([transfer(1, 2, 1000)]);
    expect(outcome).toMatchObject({ resultado: 'aplicada', limite: SEEDED_LIMITS[1], saldo: '-1000', repetida: false });
    const rows = await database.query(
      `
      SELECT cliente_id, valor, tipo, saldo_apos::int, transferencia_id::text
        FROM transacoes WHERE transferencia_id = $1 ORDER BY id`,
      [outcome!.transferencia],
    );
    expect(rows).toEqual([
      { cliente_id: 1, valor: 1000, tipo: 'd', saldo_apos: -1000, transferencia_id: outcome!.transferencia },
      { cliente_id: 2, valor: 1000, tipo: 'c', saldo_apos: 1000, transferencia_id: outcome!.transferencia },
    ]);
    const sides = 'SELECT pagador, recebedor, valor FROM transferencias WHERE id = $1';
    expect(await database.query(sides, [outcome!.transferencia])).toEqual([{ pagador: 1, recebedor: 2, valor: 1000 }]);
  });

  it("is refused past the payer's limit, to or from no client, past the payee's largest balance", async () => {
    const before = await balances();
    const count = await database.transactionCount();
    const outcomes = await move([transfer(2, 1, SEEDED_LIMITS[2]! + 10_000), transfer(2, 9, 1), transfer(9, 2, 1)]);
    expect(outcomes.map((outcome) => outcome.resultado)).toEqual([
      'limite_excedido',
      'destinatario_nao_encontrado',
      'cliente_nao_encontrado',
    ]);
    expect(outcomes.every((outcome) => outcome.transferencia === null)).toBe(true);
    // Client 5 holds the largest balance; any transfer to it would pass it.
    await database.query('UPDATE clientes SET saldo = 9007199254740991 WHERE id = 5');
    try {
      const [outcome] = await move([transfer(4, 5, 1)]);
      expect(outcome!.resultado).toBe('saldo_destinatario_excedido');
    } finally {
      await database.query('UPDATE clientes SET saldo = $1 WHERE id = 5', [before[5]]);
    }
    expect(await balances()).toEqual(before);
    expect(await database.transactionCount()).toBe(count);
  });

  it('shares a batch with transactions, each decided in arrival order by the balances before it', async () => {
    const before = await balances();
    const outcomes = await move([
      [3, null, 500, 'c', 'entrada'],
      transfer(3, 4, before[3]! + 500 + SEEDED_LIMITS[3]!),
      transfer(3, 4, 1),
      [4, null, 7, 'd', 'saida'],
    ]);
    expect(outcomes.map((outcome) => [outcome.resultado, Number(outcome.saldo)])).toEqual([
      ['aplicada', before[3]! + 500],
      ['aplicada', -SEEDED_LIMITS[3]!],
      ['limite_excedido', -SEEDED_LIMITS[3]!],
      ['aplicada', before[4]! + before[3]! + 500 + SEEDED_LIMITS[3]! - 7],
    ]);
    // Transfers conserve money: the sum moved by the two transactions only.
    expect(total(await balances())).toBe(total(before) + 500 - 7);
    const saldoAposMatches = await database.query<{ ok: boolean }>(`
      SELECT bool_and(c.saldo = (SELECT t.saldo_apos FROM transacoes t
                                  WHERE t.cliente_id = c.id ORDER BY t.id DESC LIMIT 1)) AS ok
        FROM clientes c WHERE c.id IN (3, 4)`);
    expect(saldoAposMatches[0]!.ok).toBe(true);
  });

  it('with a key is made once: a retry gets the same transfer; another body is refused', async () => {
    const first = await move([transfer(1, 3, 10, 'pix-1')]);
    const count = await database.transactionCount();
    const retry = await move([transfer(1, 3, 10, 'pix-1')]);
    expect(retry).toEqual([{ ...first[0], repetida: true }]);
    expect((await move([transfer(1, 4, 10, 'pix-1')]))[0]!.resultado).toBe('chave_idempotencia_reutilizada');
    expect((await move([[1, null, 10, 'd', 'pix', 'pix-1']]))[0]!.resultado).toBe('chave_idempotencia_reutilizada');
    const { rows } = await api.query("SELECT resultado FROM registrar_transacao(1, 10, 'd', 'pix', 'pix-1', 0, NULL)");
    expect(rows[0].resultado).toBe('chave_idempotencia_reutilizada');
    // Twice in one batch: applied by the first, answered again to the second.
    const twice = await move([transfer(1, 3, 10, 'pix-2'), transfer(1, 3, 10, 'pix-2')]);
    expect(twice[1]).toEqual({ ...twice[0], repetida: true });
    expect(await database.transactionCount()).toBe(count + 2);
  });

  it('A to B and B to A at once, over and over, never deadlock and conserve money', async () => {
    const before = await balances();
    const rounds = 40;
    const calls: Promise<Outcome[]>[] = [];
    for (let round = 0; round < rounds; round++) {
      calls.push(move([transfer(1, 2, 3), transfer(2, 1, 5)]), move([transfer(2, 1, 3)]));
      calls.push(move([transfer(1, 2, 5), transfer(4, 3, 1)]));
    }
    const outcomes = (await Promise.all(calls)).flat();
    // A row another call held is answered cliente_ocupado, unchanged, never a wait.
    const codes = [...new Set(outcomes.map((outcome) => outcome.resultado))];
    expect(codes.filter((code) => !['aplicada', 'cliente_ocupado'].includes(code))).toEqual([]);
    expect(outcomes.some((outcome) => outcome.resultado === 'aplicada')).toBe(true);
    expect(total(await balances())).toBe(total(before));
    const deadlocks = await database.query<{ deadlocks: string }>(
      'SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()',
    );
    expect(Number(deadlocks[0]!.deadlocks)).toBe(0);
  });

  it('holds both rows in id order while it runs: a session holding the payee makes it cliente_ocupado', async () => {
    const holder = new pg.Client({ connectionString: database.adminUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM clientes WHERE id = 2 FOR UPDATE');
      const before = await balances();
      const outcomes = await move([transfer(1, 2, 1), transfer(2, 1, 1), transfer(1, 3, 1)]);
      expect(outcomes.map((outcome) => outcome.resultado)).toEqual(['cliente_ocupado', 'cliente_ocupado', 'aplicada']);
      expect((await balances())[2]).toBe(before[2]);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });
});

describe('the role model', () => {
  const refused = async (values: unknown[]) =>
    expect(api.query(CALL, values)).rejects.toThrow(/registrar_movimentos|array|invalid|null/i);

  it('refuses arguments no instance sends, changing nothing', async () => {
    const before = await balances();
    const count = await database.transactionCount();
    const one = (overrides: Partial<Record<number, unknown>>) => {
      const values: unknown[] = [[1], [2], [1], ['t'], ['x'], null, 0, null];
      for (const [index, value] of Object.entries(overrides)) values[Number(index)] = value;
      return values;
    };
    await refused(one({ 0: [] }));
    await refused(one({ 0: null }));
    await refused(one({ 0: [[1]] }));
    await refused(one({ 1: [2, 3] }));
    await refused(one({ 1: [1] }));
    await refused(one({ 1: [null] }));
    await refused(one({ 3: ['c'] }));
    await refused(one({ 2: [0] }));
    await refused(one({ 2: [-5] }));
    await refused(one({ 2: [null] }));
    await refused(one({ 4: [''] }));
    await refused(one({ 4: ['12345678901'] }));
    await refused(one({ 5: ['tem espaco'] }));
    await refused(one({ 5: ['a', 'b'] }));
    await refused(one({ 6: -1 }));
    await refused(one({ 6: null }));
    await refused(one({ 7: [null, null] }));
    // A proof that is no API key's is refused as the API refuses it: an answer, nothing written.
    const forged = await api.query<Outcome>(CALL, one({ 7: [Buffer.alloc(32)] }));
    expect(forged.rows.map((row) => row.resultado)).toEqual(['chave_api_invalida']);
    const fromZero = ['[0:0]={1}', [2], [1], ['t'], ['x']];
    const shifted = api.query('SELECT * FROM registrar_movimentos($1, $2, $3, $4, $5)', fromZero);
    await expect(shifted).rejects.toThrow(/array/);
    expect(await balances()).toEqual(before);
    expect(await database.transactionCount()).toBe(count);
  });

  it('may call registrar_movimentos only, not its parts, and write no table', async () => {
    const nulls = (count: number) => Array(count).fill('NULL').join(', ');
    for (const helper of [
      `SELECT decidir_movimentos(${nulls(16)})`,
      `SELECT escrever_movimentos(${nulls(16)})`,
      "INSERT INTO transferencias (pagador, recebedor, valor, descricao) VALUES (1, 2, 1, 'x')",
      'SELECT * FROM transferencias',
    ]) {
      await expect(api.query(helper)).rejects.toThrow(/permission denied/);
    }
  });
});

describe('the schema', () => {
  it("checks a transfer at commit with its owner's rights, whichever role commits", async () => {
    const [row] = await database.query<{ definer: boolean }>(
      "SELECT prosecdef AS definer FROM pg_proc WHERE proname = 'conferir_transferencia'",
    );
    expect(row!.definer).toBe(true);
  });

  it('refuses, at commit, a transfer without both its rows, even from its owner', async () => {
    const owner = new pg.Client({ connectionString: database.ownerUrl });
    await owner.connect();
    try {
      await owner.query('BEGIN');
      await owner.query("INSERT INTO transferencias (pagador, recebedor, valor, descricao) VALUES (1, 2, 5, 'meia')");
      await expect(owner.query('COMMIT')).rejects.toThrow(/exactly its debit and its credit/);
      await owner.query('BEGIN');
      const [row] = (
        await owner.query(`INSERT INTO transferencias (pagador, recebedor, valor, descricao)
                                        VALUES (1, 2, 5, 'torta') RETURNING id`)
      ).rows;
      await owner.query(
        `INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos, transferencia_id)
                         VALUES (1, 5, 'd', 'torta', 0, $1), (2, 6, 'c', 'torta', 0, $1)`,
        [row.id],
      );
      await expect(owner.query('COMMIT')).rejects.toThrow(/exactly its debit and its credit/);
      await expect(owner.query('UPDATE transferencias SET valor = 1')).rejects.toThrow(/append-only/);
    } finally {
      await owner.end();
    }
  });
});

describe("registrar_movimentos fuzzed as the instances' role", () => {
  // Arrays of any shape and content an attacker could send: each call either
  // fails, changing nothing, or answers one row per item; after every call
  // the books are exact and every transfer whole.
  const element = <T>(values: fc.Arbitrary<T>) =>
    fc.oneof({ weight: 8, arbitrary: values }, { weight: 1, arbitrary: fc.constant(null) });
  const list = <T>(values: fc.Arbitrary<T>) =>
    fc.oneof(
      { weight: 6, arbitrary: fc.array(element(values), { minLength: 1, maxLength: 6 }) },
      { weight: 1, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constant([]) },
    );
  const ids = fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: -3, max: 3 }), fc.integer());
  const call = fc.tuple(
    list(ids),
    list(ids),
    list(fc.oneof(fc.integer({ min: 1, max: 200_000 }), fc.integer())),
    list(fc.constantFrom('c', 'd', 't', 'x', '')),
    list(fc.oneof(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 14 }))),
    fc.oneof(fc.constant(null), list(fc.constantFrom('k1', 'k2', 'tem espaco', ''))),
    fc.oneof(fc.constant(0), fc.integer({ min: -5, max: 70_000 })),
    fc.oneof(fc.constant(null), list(fc.integer({ min: -2, max: 3 }))),
  );

  // Batches an instance could send: one length, transfers and transactions mixed, some keyed.
  const item = fc.tuple(
    fc.integer({ min: 1, max: 6 }),
    fc.integer({ min: 1, max: 6 }),
    fc.integer({ min: 1, max: 90_000 }),
    fc.constantFrom('c', 'd', 't', 't'),
    fc.constantFrom('k1', 'k2', 'k3', null),
  );
  const coherent = fc.array(item, { minLength: 1, maxLength: 8 }).map((items) => {
    const column = (index: number) => items.map((each) => each[index]);
    const payees = items.map(([from, to, , tipo]) => (tipo !== 't' ? null : to === from ? (from % 6) + 1 : to));
    return [column(0), payees, column(2), column(3), items.map(() => 'pix'), column(4), 0, null];
  });

  async function booksProblems(): Promise<string[]> {
    const rows = await database.query<{ problem: string }>(`
      SELECT 'client ' || c.id || ' saldo ' || c.saldo AS problem FROM clientes c
       WHERE c.saldo <> coalesce((SELECT sum(CASE t.tipo WHEN 'c' THEN t.valor ELSE -t.valor END)
                                    FROM transacoes t WHERE t.cliente_id = c.id), 0)
          OR c.saldo < -c.limite
      UNION ALL
      SELECT 'transfer ' || f.id || ' not whole' FROM transferencias f WHERE NOT transferencia_inteira(f.id)`);
    return rows.map((row) => row.problem);
  }

  it('never leaves the books inexact, whatever it is called with', async () => {
    let applied = 0;
    const calls = fc.oneof(call as fc.Arbitrary<unknown[]>, coherent as fc.Arbitrary<unknown[]>);
    await fc.assert(
      fc.asyncProperty(calls, async (values) => {
        const before = await database.transactionCount();
        const outcome = await api.query<Outcome>(CALL, values).then(
          (result) => result.rows,
          (error: Error) => error,
        );
        if (outcome instanceof Error) expect(await database.transactionCount()).toBe(before);
        else expect(outcome).toHaveLength((values[0] as unknown[]).length);
        if (!(outcome instanceof Error)) applied += outcome.filter((row) => row.resultado === 'aplicada').length;
        expect(await booksProblems()).toEqual([]);
      }),
      { numRuns: 300 },
    );
    // The property saw money move, not only refusals.
    expect(applied).toBeGreaterThan(50);
  });
});
