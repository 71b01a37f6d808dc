// Facts that SQL and TypeScript share, each with one home: these tests hold
// the other side to it. The outcome codes the SQL functions answer must be
// codes of the API's catalogue; the largest balance must be the largest exact
// JavaScript integer; the statement size is the caller's parameter; times
// come in the one format iso_utc() writes.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureForCode, failures } from '../../src/shared/failures.js';
import { SETTINGS } from '../../src/shared/settings.js';
import { InvariantError } from '../../src/shared/invariant.js';
import {
  HISTORY_PAGE_ROWS_MAX,
  HISTORY_SCAN_ROWS_MAX,
  IDEMPOTENCY_KEY_CHARACTERS_MAX,
  STATEMENT_TRANSACTIONS_MAX,
} from '../../src/shared/limits.js';
import { answerOf } from '../../src/instance/ledger/transactions.js';
import { INVISIBLE_CHARACTERS, parseIdempotencyKey } from '../../src/instance/http/validation.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.close();
});

const huge = 2147483647;

// Each refusal reason the functions can answer, with a call that produces it.
const refusals = [
  { code: 'cliente_nao_encontrado', failure: failures.clientNotFound, call: [6, 1, 'c', 'x'] },
  { code: 'limite_excedido', failure: failures.limitExceeded, call: [2, 80001, 'd', 'x'] },
  {
    code: 'saldo_excedido',
    failure: failures.balanceTooLarge,
    call: [1, huge, 'c', 'x'],
    before: 'UPDATE clientes SET saldo = saldo_maximo() - 1 WHERE id = 1',
  },
] as const;

describe('outcome codes', () => {
  it.each(refusals)(
    "$code, from both transaction functions, is the catalogue's $failure.status",
    async ({ code, failure, call, ...rest }) => {
      const scratch = await createTestDatabase();
      try {
        if ('before' in rest) await scratch.query(rest.before);
        const single = await scratch.query('SELECT resultado, limite, saldo FROM registrar_transacao($1, $2, $3, $4)', [
          ...call,
        ]);
        const batch = await scratch.query(
          'SELECT resultado, limite, saldo FROM registrar_transacoes($1, $2, $3, $4)',
          call.map((value) => [value]),
        );
        for (const row of [single[0]!, batch[0]!]) {
          expect(row.resultado).toBe(code);
          expect(failureForCode(row.resultado)).toBe(failure);
          expect(answerOf([row.resultado, row.limite, row.saldo === null ? null : Number(row.saldo)])).toBe(failure);
        }
      } finally {
        await scratch.close();
      }
    },
  );

  it('an applied transaction answers aplicada with the new balance', async () => {
    const [row] = await database.query('SELECT resultado, limite, saldo FROM registrar_transacao(3, 5, $1, $2)', [
      'c',
      'x',
    ]);
    expect(answerOf([row!.resultado, row!.limite, Number(row!.saldo)])).toEqual({ limite: 1000000, saldo: 5 });
  });

  it("a key reused with another request answers chave_idempotencia_reutilizada, the catalogue's 422, from both functions", async () => {
    await database.query("SELECT registrar_transacao(5, 1, 'c', 'x', 'fato', 0)");
    const single = await database.query("SELECT resultado FROM registrar_transacao(5, 2, 'c', 'x', 'fato', 0)");
    const batch = await database.query(
      "SELECT resultado FROM registrar_transacoes('{5}', '{2}', '{c}', '{x}', '{fato}', 0)",
    );
    for (const [row] of [single, batch]) expect(failureForCode(row!.resultado)).toBe(failures.idempotencyKeyReused);
  });

  it("a key another transaction holds answers chave_idempotencia_em_uso, the catalogue's 409, from both functions, after the wait", async () => {
    const holder = new pg.Client({ connectionString: database.adminUrl });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query("SELECT pg_advisory_xact_lock(5, hashtext('ocupada'))");
    try {
      const single = await database.query("SELECT resultado FROM registrar_transacao(5, 1, 'c', 'x', 'ocupada', 50)");
      const batch = await database.query(
        "SELECT resultado FROM registrar_transacoes('{5,5}', '{1,1}', '{c,c}', '{x,y}', '{ocupada,NULL}', 50)",
      );
      expect(failureForCode(single[0]!.resultado)).toBe(failures.idempotencyKeyInUse);
      expect(batch.map((row) => row.resultado)).toEqual([failures.idempotencyKeyInUse.code, 'aplicada']);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it(
    "a client row another session holds answers cliente_ocupado, the catalogue's 503 (nothing applied)," +
      " from both functions at once; the batch's other clients are applied",
    async () => {
      const holder = new pg.Client({ connectionString: database.adminUrl });
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM clientes WHERE id = 4 FOR UPDATE');
      try {
        const [balanceBefore] = await database.query('SELECT saldo FROM clientes WHERE id = 4');
        const rowsOf4 = () => database.query('SELECT count(*)::int AS n FROM transacoes WHERE cliente_id = 4');
        const rowsBefore = await rowsOf4();
        const single = await database.query("SELECT resultado FROM registrar_transacao(4, 1, 'c', 'x')");
        const batch = await database.query(
          "SELECT resultado FROM registrar_transacoes('{4,3,4,6}', '{1,1,1,1}', '{c,c,c,c}', '{x,y,x,x}')",
        );
        expect(failureForCode(single[0]!.resultado)).toBe(failures.clientBusy);
        expect(batch.map((row) => row.resultado)).toEqual([
          failures.clientBusy.code,
          'aplicada',
          failures.clientBusy.code,
          failures.clientNotFound.code,
        ]);
        expect(await database.query('SELECT saldo FROM clientes WHERE id = 4')).toEqual([balanceBefore]);
        expect(await rowsOf4()).toEqual(rowsBefore);
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
    },
  );

  it("a history cursor whose tag does not match answers cursor_invalido, the catalogue's 422", async () => {
    const [row] = await database.query(
      "SELECT resultado FROM historico(1, 5, '\\x00'::bytea, 10, NULL, NULL, NULL, NULL, NULL)",
    );
    expect(failureForCode(row!.resultado)).toBe(failures.invalidCursor);
    const [unknown] = await database.query(
      'SELECT resultado FROM historico(6, NULL, NULL, 10, NULL, NULL, NULL, NULL, NULL)',
    );
    expect(failureForCode(unknown!.resultado)).toBe(failures.clientNotFound);
  });

  it('an outcome the catalogue does not know is a bug, not an answer', () => {
    expect(() => answerOf(['recusada_por_engano', 1, 1])).toThrow(InvariantError);
  });
});

describe('the idempotency key rule', () => {
  const store = (key: string) =>
    database.query(
      "INSERT INTO chaves_idempotencia (cliente_id, chave, valor, tipo, descricao, resultado, limite, saldo) VALUES (2, $1, 1, 'c', 'x', 'aplicada', 0, 0)",
      [key],
    );

  it('the longest key the API accepts is stored; each key it refuses, the schema refuses too', async () => {
    const longest = '~'.repeat(IDEMPOTENCY_KEY_CHARACTERS_MAX);
    expect(parseIdempotencyKey(longest)).toBe(longest);
    await store(longest);
    for (const refused of [
      '!'.repeat(IDEMPOTENCY_KEY_CHARACTERS_MAX + 1),
      'com espaco',
      'tab\tulada',
      'acentuaçao',
      'del\u007f',
    ]) {
      expect(parseIdempotencyKey(refused)).toBe(failures.invalidIdempotencyKey);
      await expect(store(refused), refused).rejects.toMatchObject({ code: '23514' });
    }
  });
});

describe('vacuum for the idempotency keys', () => {
  // Regression: the table churns (every key is deleted after the
  // retention), and with the default thresholds the dead rows piled up
  // between vacuums and slowed the expiry's own scan.
  it('chaves_idempotencia is vacuumed after a fixed number of changed rows, without cost pauses; its BRIN index summarizes as it fills', async () => {
    const [table] = await database.query<{ reloptions: string[] }>(
      "SELECT reloptions FROM pg_class WHERE oid = 'chaves_idempotencia'::regclass",
    );
    expect([...table!.reloptions].sort()).toEqual([
      'autovacuum_analyze_scale_factor=0',
      'autovacuum_analyze_threshold=10000',
      'autovacuum_vacuum_cost_delay=0',
      'autovacuum_vacuum_insert_scale_factor=0',
      'autovacuum_vacuum_insert_threshold=10000',
      'autovacuum_vacuum_scale_factor=0',
      'autovacuum_vacuum_threshold=10000',
    ]);
    const [index] = await database.query<{ reloptions: string[] }>(
      "SELECT reloptions FROM pg_class WHERE oid = 'chaves_idempotencia_criada_em'::regclass",
    );
    expect(index!.reloptions).toEqual(['autosummarize=on']);
  });
});

describe('numbers and formats', () => {
  it('saldo_maximo() is the largest integer a JavaScript number holds exactly', async () => {
    const [row] = await database.query('SELECT saldo_maximo()::text AS maximo');
    expect(BigInt(row!.maximo)).toBe(BigInt(Number.MAX_SAFE_INTEGER));
  });

  it('extratos lists as many transactions as asked, newest first', async () => {
    for (let index = 1; index <= STATEMENT_TRANSACTIONS_MAX + 2; index++) {
      await database.query("SELECT registrar_transacao(4, $1, 'c', $2)", [index, `t${index}`]);
    }
    const rows = await database.query('SELECT descricao FROM extratos(ARRAY[4], $1)', [STATEMENT_TRANSACTIONS_MAX]);
    expect(rows.map((row) => row.descricao)).toEqual(
      Array.from({ length: STATEMENT_TRANSACTIONS_MAX }, (_, index) => `t${STATEMENT_TRANSACTIONS_MAX + 2 - index}`),
    );
    expect(await database.query('SELECT descricao FROM extratos(ARRAY[4], 3)')).toHaveLength(3);
  });

  it('historico_linhas_lidas_max() is HISTORY_SCAN_ROWS_MAX, the bound on the rows a history page reads', async () => {
    const [row] = await database.query('SELECT historico_linhas_lidas_max() AS maximo');
    expect(row!.maximo).toBe(HISTORY_SCAN_ROWS_MAX);
  });

  it('iso_utc() writes ISO 8601 in UTC with microseconds, whatever the session time zone', async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query("SET timezone = 'America/Sao_Paulo'");
    const [row] = (await client.query("SELECT iso_utc('2024-01-17 02:34:41.217753+00') AS quando")).rows;
    await client.end();
    expect(row.quando).toBe('2024-01-17T02:34:41.217753Z');
  });
});

describe('the characters a descricao may not hold', () => {
  /** Every Unicode scalar value (no surrogates; U+0000 is not text in PostgreSQL). */
  const codePoints = () =>
    Array.from({ length: 0x10ffff }, (_, index) => index + 1).filter((code) => code < 0xd800 || code > 0xdfff);

  it('are the same for the API (INVISIBLE_CHARACTERS) and the schema (descricao_valida), code point by code point', async () => {
    const refusedByApi = codePoints().filter((code) => INVISIBLE_CHARACTERS.test(String.fromCodePoint(code)));
    const [row] = await database.query<{ refused: number[] }>(`
      SELECT array_agg(n ORDER BY n) AS refused FROM generate_series(1, 1114111) AS n
       WHERE (n < 55296 OR n > 57343) AND NOT descricao_valida(chr(n))`);
    expect(row!.refused).toEqual(refusedByApi);
  });

  it('include every control, format, line and paragraph separator character Unicode names', () => {
    const named = codePoints().filter((code) => /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(String.fromCodePoint(code)));
    expect(
      named.filter((code) => !INVISIBLE_CHARACTERS.test(String.fromCodePoint(code))).map((code) => code.toString(16)),
    ).toEqual([]);
  });

  it('regression: include every default-ignorable code point, which Unicode renders as nothing', () => {
    const shown = (code: number) => String.fromCodePoint(code);
    const ignorable = codePoints().filter((code) => /\p{Default_Ignorable_Code_Point}/u.test(shown(code)));
    const allowed = ignorable.filter((code) => !INVISIBLE_CHARACTERS.test(shown(code)));
    expect(allowed.map((code) => code.toString(16))).toEqual([]);
  });
});

describe('the bounds the functions check a caller against', () => {
  it("a batch call takes up to CREBITO_BATCH_SIZE_MAX's largest value, a keyed call waits up to CREBITO_IDEMPOTENCY_WAIT_MS_MAX's", async () => {
    const [row] = await database.query('SELECT lote_maximo() AS lote, espera_maxima_ms() AS espera');
    expect(row).toEqual({ lote: SETTINGS.batchSizeMax.max, espera: SETTINGS.idempotencyWaitMsMax.max });
  });

  it('a history page holds up to HISTORY_PAGE_ROWS_MAX rows: historico takes that many and refuses one more', async () => {
    await expect(
      database.query('SELECT * FROM historico(1, NULL, NULL, $1, NULL, NULL, NULL, NULL, NULL)', [
        HISTORY_PAGE_ROWS_MAX,
      ]),
    ).resolves.toBeDefined();
    await expect(
      database.query('SELECT * FROM historico(1, NULL, NULL, $1, NULL, NULL, NULL, NULL, NULL)', [
        HISTORY_PAGE_ROWS_MAX + 1,
      ]),
    ).rejects.toMatchObject({ code: '22023' });
  });
});
