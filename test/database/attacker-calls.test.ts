// The ledger's functions called as the instances' role by a caller that is
// not the API (a compromised or buggy instance): each call the books must
// survive, one per hole found from outside. Whatever the call, it is refused
// or valid, and the books stay exact (test/support/books.ts).

import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKey } from '../../tools/keys/keys.js';
import { booksProblems } from '../support/books.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const INVALID_PARAMETER = '22023';
const INSUFFICIENT_PRIVILEGE = '42501';
const UNDEFINED_FUNCTION = '42883';

let database: TestDatabase;
/** A session as the instances' role. */
let api: pg.Client;
/** A session as the schema's owner (npm run keys, the launcher's settings). */
let owner: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  api = new pg.Client({ connectionString: database.url });
  owner = new pg.Client({ connectionString: database.ownerUrl });
  await Promise.all([api.connect(), owner.connect()]);
});

afterAll(async () => {
  await Promise.all([api?.end(), owner?.end()]);
  await database?.close();
});

beforeEach(async () => {
  await owner.query('UPDATE configuracao SET chave_api_obrigatoria = false, retencao_chaves_s = 86400');
});

/** The SQLSTATE a call fails with, or its rows. */
async function attempt(text: string, values: unknown[] = []): Promise<{ code: string } | Record<string, unknown>[]> {
  try {
    return (await api.query(text, values)).rows;
  } catch (error) {
    return { code: (error as { code: string }).code };
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

describe('regression: registrar_transacoes decided by position 1..n but inserted in unnest order', () => {
  it.each([
    ['tipos from 0', "'{3,4}', '{100000,1}', '[0:1]={d,c}', '{bounds,bounds}'"],
    ['clients from 0', "'[0:1]={3,4}', '{7777,1}', '{c,c}', '{xclient,xclient}'"],
    ['valores from 2', "'{3,4}', '[2:3]={5,6}', '{c,c}', '{a,b}'"],
    ['descriptions in two dimensions', "'{3,4}', '{5,6}', '{c,c}', '{{a},{b}}'"],
    ['clients in two dimensions', "'{{3},{4}}', '{5,6}', '{c,c}', '{a,b}'"],
    ['keys from 0', "'{3,4}', '{5,6}', '{c,c}', '{a,b}', '[0:1]={k1,k2}', 0"],
    ['a NULL client', "'{3,NULL}', '{5,6}', '{c,c}', '{a,b}'"],
    ['a NULL valor', "'{3,4}', '{5,NULL}', '{c,c}', '{a,b}'"],
    ['mismatched lengths', "'{3,4}', '{5}', '{c,c}', '{a,b}'"],
    ['an empty batch', "'{}', '{}', '{}', '{}'"],
  ])('refuses %s with 22023, and the books stay exact', async (_, argumentsText) => {
    const before = await database.query('SELECT id, saldo FROM clientes ORDER BY id');
    expect(await attempt(`SELECT * FROM registrar_transacoes(${argumentsText})`)).toEqual({ code: INVALID_PARAMETER });
    expect(await database.query('SELECT id, saldo FROM clientes ORDER BY id')).toEqual(before);
    expect(await booksProblems(database)).toEqual([]);
  });

  it('still applies a batch of 1-based arrays, each row with its own money', async () => {
    const rows = await attempt(
      "SELECT resultado FROM registrar_transacoes('[1:2]={3,4}', '{10,20}', '{c,d}', '{um,dois}')",
    );
    expect(rows).toEqual([{ resultado: 'aplicada' }, { resultado: 'aplicada' }]);
    expect(
      await database.query(
        "SELECT cliente_id, valor, tipo FROM transacoes WHERE descricao IN ('um', 'dois') ORDER BY id",
      ),
    ).toEqual([
      { cliente_id: 3, valor: 10, tipo: 'c' },
      { cliente_id: 4, valor: 20, tipo: 'd' },
    ]);
    expect(await booksProblems(database)).toEqual([]);
  });
});

describe('every transaction argument is checked as if an attacker sent it', () => {
  it.each([
    ['a zero valor', "3, 0, 'c', 'x'"],
    ['a negative valor', "3, -5, 'd', 'x'"],
    ['tipo cc', "3, 5, 'cc', 'x'"],
    ['tipo x', "3, 5, 'x', 'x'"],
    ['a NULL tipo', "3, 5, NULL, 'x'"],
    ['an empty description', "3, 5, 'c', ''"],
    ['an 11-character description', "3, 5, 'c', 'abcdefghijk'"],
    ['a control character', "3, 5, 'c', E'a\\x01b'"],
    ['a right-to-left override', "3, 5, 'c', E'a\\u202eb'"],
    ['a zero-width space', "3, 5, 'c', E'\\u200b'"],
    ['a byte order mark', "3, 5, 'c', E'\\ufeffx'"],
    ['a newline', "3, 5, 'c', E'a\\nb'"],
    ['an idempotency key with a space', "3, 5, 'c', 'x', 'a b', 0"],
    ['a negative wait', "3, 5, 'c', 'x', 'k', -1"],
    ['a wait of a day', "3, 5, 'c', 'x', 'k', 86400000"],
  ])('registrar_transacao refuses %s with 22023 and records nothing', async (_, argumentsText) => {
    const count = await database.transactionCount();
    expect(await attempt(`SELECT * FROM registrar_transacao(${argumentsText})`)).toEqual({ code: INVALID_PARAMETER });
    expect(await database.transactionCount()).toBe(count);
  });

  it('the table refuses an invisible character whoever writes it (its owner included)', async () => {
    await expect(
      owner.query(
        "INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos) VALUES (5, 1, 'c', E'\\u200b', 0)",
      ),
    ).rejects.toMatchObject({ code: '23514' });
  });

  it('historico refuses a page size outside 1..100 and an unknown tipo', async () => {
    for (const text of [
      'SELECT * FROM historico(1, NULL, NULL, -1, NULL, NULL, NULL, NULL, NULL)',
      'SELECT * FROM historico(1, NULL, NULL, 101, NULL, NULL, NULL, NULL, NULL)',
      "SELECT * FROM historico(1, NULL, NULL, 5, 'x', NULL, NULL, NULL, NULL)",
    ]) {
      expect(await attempt(text), text).toEqual({ code: INVALID_PARAMETER });
    }
  });
});

describe('regression: the API key a transaction was credited to was whatever the caller said', () => {
  let writer: string;
  beforeAll(async () => {
    writer = await createKey(owner, { name: 'escritora', clients: [1, 2], scope: 'read-write', expiresInS: undefined });
    await createKey(owner, { name: 'kall', clients: 'all', scope: 'read-write', expiresInS: undefined });
    await createKey(owner, { name: 'leitora', clients: 'all', scope: 'read', expiresInS: undefined });
  });

  it('a key id is not taken any more', async () => {
    expect(await attempt("SELECT * FROM registrar_transacao(2, 1, 'c', 'attrib', NULL, 0, 4)")).toEqual({
      code: UNDEFINED_FUNCTION,
    });
    expect(
      await attempt("SELECT * FROM registrar_transacoes('{2}', '{1}', '{c}', '{attrib}', NULL, 0, '{4}'::integer[])"),
    ).toEqual({ code: UNDEFINED_FUNCTION });
  });

  it("the instances' role cannot read the hashes a proof is made of", async () => {
    expect(await attempt('SELECT hash FROM chaves_api')).toEqual({ code: INSUFFICIENT_PRIVILEGE });
  });

  it('a made-up proof is refused as an invalid key, and nothing is recorded', async () => {
    const count = await database.transactionCount();
    expect(
      await attempt("SELECT resultado FROM registrar_transacao(2, 1, 'c', 'attrib', NULL, 0, $1)", [randomBytes(32)]),
    ).toEqual([{ resultado: 'chave_api_invalida' }]);
    expect(
      await attempt("SELECT resultado FROM registrar_transacoes('{2,2}', '{1,1}', '{c,c}', '{a,b}', NULL, 0, $1)", [
        [randomBytes(32), null],
      ]),
    ).toEqual([{ resultado: 'chave_api_invalida' }, { resultado: 'aplicada' }]);
    expect(await database.transactionCount()).toBe(count + 1);
  });

  it('a real proof is credited to its own key, within its clients and its scope', async () => {
    const proof = sha256(writer);
    expect(
      await attempt("SELECT resultado FROM registrar_transacao(2, 1, 'c', 'minha', NULL, 0, $1)", [proof]),
    ).toEqual([{ resultado: 'aplicada' }]);
    expect(
      await database.query(
        "SELECT k.nome FROM transacoes t JOIN chaves_api k ON k.id = t.chave_api_id WHERE t.descricao = 'minha'",
      ),
    ).toEqual([{ nome: 'escritora' }]);
    expect(
      await attempt("SELECT resultado FROM registrar_transacao(3, 1, 'c', 'alheia', NULL, 0, $1)", [proof]),
    ).toEqual([{ resultado: 'cliente_nao_permitido' }]);
    expect(
      await attempt('SELECT resultado FROM registrar_transacoes($1, $2, $3, $4, NULL, 0, $5)', [
        [1, 3],
        [1, 1],
        ['c', 'c'],
        ['a', 'b'],
        [proof, proof],
      ]),
    ).toEqual([{ resultado: 'aplicada' }, { resultado: 'cliente_nao_permitido' }]);
    const reader = (await owner.query("SELECT hash FROM chaves_api WHERE nome = 'leitora'")).rows[0].hash as Buffer;
    expect(
      await attempt("SELECT resultado FROM registrar_transacao(2, 1, 'c', 'leitura', NULL, 0, $1)", [reader]),
    ).toEqual([{ resultado: 'chave_somente_leitura' }]);
    await owner.query("UPDATE chaves_api SET revogada_em = now() WHERE nome = 'escritora'");
    expect(
      await attempt("SELECT resultado FROM registrar_transacao(2, 1, 'c', 'revogada', NULL, 0, $1)", [proof]),
    ).toEqual([{ resultado: 'chave_api_invalida' }]);
    expect(await booksProblems(database)).toEqual([]);
  });

  it('with keys required by the owner, a write that names no key is refused, single or batched', async () => {
    await owner.query('UPDATE configuracao SET chave_api_obrigatoria = true');
    const count = await database.transactionCount();
    expect(await attempt("SELECT resultado FROM registrar_transacao(2, 1, 'c', 'anonima')")).toEqual([
      { resultado: 'autenticacao_necessaria' },
    ]);
    expect(await attempt("SELECT resultado FROM registrar_transacoes('{1,2}', '{1,1}', '{c,c}', '{a,b}')")).toEqual([
      { resultado: 'autenticacao_necessaria' },
      { resultado: 'autenticacao_necessaria' },
    ]);
    expect(
      await attempt("SELECT resultado FROM registrar_transacoes('{1,2}', '{1,1}', '{c,c}', '{a,b}', NULL, 0, $1)", [
        [null, randomBytes(32)],
      ]),
    ).toEqual([{ resultado: 'autenticacao_necessaria' }, { resultado: 'chave_api_invalida' }]);
    expect(await database.transactionCount()).toBe(count);
  });
});

describe("regression: idempotency keys could be expired early by the instances' role", () => {
  it("the retention is the owner's: the caller names how many, never how old", async () => {
    expect(await attempt("SELECT resultado FROM registrar_transacao(1, 1, 'c', 'retida', 'retida-1', 0)")).toEqual([
      { resultado: 'aplicada' },
    ]);
    expect(await attempt('SELECT expirar_chaves(0, 1000000)')).toEqual({ code: UNDEFINED_FUNCTION });
    expect(await attempt('SELECT expirar_chaves(1000000) AS removidas')).toEqual([{ removidas: 0 }]);
    expect(
      await attempt("SELECT resultado, repetida FROM registrar_transacao(1, 1, 'c', 'retida', 'retida-1', 0)"),
    ).toEqual([{ resultado: 'aplicada', repetida: true }]);
    expect(await database.query("SELECT count(*)::int AS n FROM transacoes WHERE descricao = 'retida'")).toEqual([
      { n: 1 },
    ]);
  });

  it("the instances' role may neither read nor change the owner's configuration", async () => {
    expect(await attempt('SELECT * FROM configuracao')).toEqual({ code: INSUFFICIENT_PRIVILEGE });
    expect(await attempt('UPDATE configuracao SET retencao_chaves_s = 1')).toEqual({ code: INSUFFICIENT_PRIVILEGE });
  });

  it("keys older than the owner's retention are removed", async () => {
    await owner.query('UPDATE configuracao SET retencao_chaves_s = 1');
    await database.query(
      "UPDATE chaves_idempotencia SET criada_em = now() - interval '2 seconds' WHERE chave = 'retida-1'",
    );
    expect(await attempt('SELECT expirar_chaves(1000) AS removidas')).toEqual([{ removidas: 1 }]);
  });
});

describe('regression: a descricao of invisible default-ignorable marks was stored', () => {
  // Each renders as nothing (Unicode's Default_Ignorable_Code_Point), so a statement showed an empty description.
  it.each([
    ['a combining grapheme joiner', '\u034f'],
    ['two variation selectors', '\ufe0f\ufe0f'],
    ['a Mongolian free variation selector', '\u180b'],
    ['a supplementary variation selector', '\u{e0100}'],
    ['a Khmer inherent vowel', 'a\u17b4'],
  ])('registrar_transacao refuses %s with 22023 and records nothing', async (_, descricao) => {
    const count = await database.transactionCount();
    expect(await attempt("SELECT * FROM registrar_transacao(3, 1, 'c', $1)", [descricao])).toEqual({
      code: INVALID_PARAMETER,
    });
    expect(await attempt("SELECT * FROM registrar_transacoes('{3}', '{1}', '{c}', $1)", [[descricao]])).toEqual({
      code: INVALID_PARAMETER,
    });
    expect(await database.transactionCount()).toBe(count);
  });
});

describe('regression: a batch applied one idempotency key twice when its first transaction was refused', () => {
  // Keys not required: a made-up proof is refused, and the two calls without one share its key.
  it('the last is answered what the one before applied, and the batch is not an error', async () => {
    const count = await database.transactionCount();
    const rows = await attempt(
      "SELECT resultado, repetida FROM registrar_transacoes('{3,3,3}', '{1,1,1}', '{c,c,c}', " +
        "'{dup,dup,dup}', '{dup-1,dup-1,dup-1}', 0, $1)",
      [[randomBytes(32), null, null]],
    );
    expect(rows).toEqual([
      { resultado: 'chave_api_invalida', repetida: false },
      { resultado: 'aplicada', repetida: false },
      { resultado: 'aplicada', repetida: true },
    ]);
    expect(await database.transactionCount()).toBe(count + 1);
    expect(await booksProblems(database)).toEqual([]);
  });
});
