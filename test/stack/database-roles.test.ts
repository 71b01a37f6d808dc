// Least privilege in the database (sql/07-privileges.sql): the role the
// instances log in as can only call the ledger's functions and read what a
// statement shows; transacoes is append-only for everyone, its owner
// included; and an instance refuses to work as a superuser or as the owner
// unless told to. Every refusal is checked against a real PostgreSQL, as
// the role itself.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { handOverToOwner, INSTANCE_ROLE, OWNER_ROLE } from '../../src/stack/database-roles.js';
import { embeddedDatabaseUrl } from '../../src/stack/embedded-postgres.js';
import { applySchema } from '../../src/stack/schema.js';
import { freePort, makeDataDirectory, startStack } from '../../tools/harness/stack.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { getStatement } from '../support/http.js';
import { startInstance } from '../support/instance.js';

const INSUFFICIENT_PRIVILEGE = '42501';

let database: TestDatabase;
/** A session as the instances' role. */
let instanceRole: pg.Client;
/** A session as the superuser, which may SET ROLE to any other. */
let admin: pg.Client;
/**
 * Every table of the schema, read from the catalogue so that a new one is covered too, with one of its columns
 * (not an identity: those refuse an update for another reason).
 */
let tables: { table: string; column: string }[];
/** A role with every privilege on transacoes that is not its owner. */
const writerRole = `crebito_teste_escritor_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  database = await createTestDatabase();
  instanceRole = new pg.Client({ connectionString: database.url });
  admin = new pg.Client({ connectionString: database.adminUrl });
  await Promise.all([instanceRole.connect(), admin.connect()]);
  tables = (
    await admin.query<{ table: string; column: string }>(`
    SELECT c.relname AS table,
           (SELECT min(a.attname) FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity = '') AS column
      FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY 1`)
  ).rows;
  await admin.query(`CREATE ROLE ${writerRole} NOLOGIN`);
  await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON transacoes TO ${writerRole}`);
  // The description's CHECK calls it with the inserting role's rights (only the owner's functions insert).
  await admin.query(`GRANT EXECUTE ON FUNCTION descricao_valida TO ${writerRole}`);
});

afterAll(async () => {
  await admin?.query(`DROP OWNED BY ${writerRole}`).catch(() => undefined);
  await admin?.query(`DROP ROLE IF EXISTS ${writerRole}`).catch(() => undefined);
  await Promise.all([instanceRole?.end(), admin?.end()]);
  await database?.close();
});

/** The SQLSTATE and message a statement fails with, or undefined if it succeeds. */
async function failure(
  client: pg.Client,
  text: string,
  values: unknown[] = [],
): Promise<{ code: string; message: string } | undefined> {
  try {
    await client.query(text, values);
    return undefined;
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
}

/** Runs a statement as `role` from the superuser's session, in a transaction rolled back after. */
async function asRole(role: string, text: string): Promise<{ code: string; message: string } | undefined> {
  await admin.query('BEGIN');
  try {
    await admin.query(`SET LOCAL ROLE ${role}`);
    return await failure(admin, text);
  } finally {
    await admin.query('ROLLBACK');
  }
}

describe("the instances' role", () => {
  it('logs in as crebito_api, which is neither a superuser nor a member of the owner', async () => {
    const { rows } = await instanceRole.query(
      "SELECT current_user AS role, rolsuper, pg_has_role(current_user, $1, 'MEMBER') AS owner FROM pg_roles WHERE rolname = current_user",
      [OWNER_ROLE],
    );
    expect(rows).toEqual([{ role: INSTANCE_ROLE, rolsuper: false, owner: false }]);
  });

  it('may not INSERT, UPDATE, DELETE or TRUNCATE any table of the schema', async () => {
    expect(tables.map((each) => each.table)).toEqual(
      expect.arrayContaining(['chaves_idempotencia', 'clientes', 'segredo_cursor', 'transacoes']),
    );
    const refused: string[] = [];
    for (const { table, column } of tables) {
      for (const statement of [
        `INSERT INTO ${table} DEFAULT VALUES`,
        `UPDATE ${table} SET ${column} = ${column}`,
        `DELETE FROM ${table}`,
        `TRUNCATE ${table}`,
      ]) {
        const outcome = await failure(instanceRole, statement);
        expect(outcome, statement).toMatchObject({
          code: INSUFFICIENT_PRIVILEGE,
          message: expect.stringContaining('permission denied'),
        });
        refused.push(statement);
      }
    }
    expect(refused.length).toBe(tables.length * 4);
  });

  it("may not read the idempotency keys, the cursor secret or saldo_apos, nor lock a client's row", async () => {
    for (const statement of [
      'SELECT * FROM chaves_idempotencia',
      'SELECT segredo FROM segredo_cursor',
      'SELECT saldo_apos FROM transacoes',
      'SELECT 1 FROM clientes WHERE id = 1 FOR UPDATE',
    ]) {
      expect(await failure(instanceRole, statement), statement).toMatchObject({ code: INSUFFICIENT_PRIVILEGE });
    }
  });

  it('may not create, alter or drop anything, temporary tables included', async () => {
    for (const statement of [
      'ALTER TABLE clientes ADD COLUMN intrusa integer',
      'ALTER TABLE transacoes DISABLE TRIGGER transacoes_somente_insercao',
      'DROP TABLE transacoes',
      'CREATE TABLE intrusa (id integer)',
      'CREATE TEMPORARY TABLE clientes (id integer, saldo bigint)',
      "CREATE OR REPLACE FUNCTION registrar_transacao(integer, integer, char, varchar, text, integer) RETURNS void LANGUAGE sql AS 'SELECT'",
      "CREATE FUNCTION intrusa() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
      'ALTER FUNCTION historico SECURITY INVOKER',
    ]) {
      expect(await failure(instanceRole, statement), statement).toMatchObject({ code: INSUFFICIENT_PRIVILEGE });
    }
  });

  it("may not call the schema's helpers, only the ledger's functions", async () => {
    for (const statement of [
      "SELECT reservar_chave(1, 'x', now())",
      "SELECT * FROM chave_guardada(1, 0, 'x')",
      'SELECT etiqueta_cursor(1, 1)',
    ]) {
      expect(await failure(instanceRole, statement), statement).toMatchObject({ code: INSUFFICIENT_PRIVILEGE });
    }
  });

  it('still records a transaction, replays it by its key, reads a statement and a history page, and expires keys', async () => {
    const [applied] = (
      await instanceRole.query(
        "SELECT resultado, saldo, repetida FROM registrar_transacao(2, 700, 'd', 'papel', 'chave-papel', 100)",
      )
    ).rows;
    expect(applied).toEqual({ resultado: 'aplicada', saldo: '-700', repetida: false });
    const [replayed] = (
      await instanceRole.query(
        "SELECT resultado, saldo, repetida FROM registrar_transacao(2, 700, 'd', 'papel', 'chave-papel', 100)",
      )
    ).rows;
    expect(replayed).toEqual({ resultado: 'aplicada', saldo: '-700', repetida: true });
    const batch = (
      await instanceRole.query("SELECT resultado FROM registrar_transacoes('{2,2}', '{1,2}', '{c,c}', '{a,b}')")
    ).rows;
    expect(batch).toEqual([{ resultado: 'aplicada' }, { resultado: 'aplicada' }]);

    const statement = (await instanceRole.query('SELECT saldo, valor, descricao FROM extratos($1, 10)', [[2]])).rows;
    expect(statement).toEqual([
      { saldo: '-697', valor: 2, descricao: 'b' },
      { saldo: '-697', valor: 1, descricao: 'a' },
      { saldo: '-697', valor: 700, descricao: 'papel' },
    ]);
    const page = (
      await instanceRole.query(
        'SELECT resultado, valor, saldo_apos FROM historico(2, NULL, NULL, 2, NULL, NULL, NULL, NULL, NULL)',
      )
    ).rows;
    expect(page).toEqual([
      { resultado: 'pagina', valor: 2, saldo_apos: '-697' },
      { resultado: 'pagina', valor: 1, saldo_apos: '-699' },
      { resultado: 'proxima', valor: null, saldo_apos: null },
    ]);

    await admin.query(
      "UPDATE chaves_idempotencia SET criada_em = now() - interval '2 days' WHERE chave = 'chave-papel'",
    );
    expect((await instanceRole.query('SELECT expirar_chaves(1000) AS removidas')).rows).toEqual([{ removidas: 1 }]);
    expect(await database.query("SELECT 1 FROM chaves_idempotencia WHERE chave = 'chave-papel'")).toEqual([]);
  });
});

// Each forbidden thing docs/security.md (The role model) lists, tried as the
// role: a compromised instance holds exactly these rights.
describe('the role model: what a compromised instance cannot do', () => {
  const attempt = (text: string, values: unknown[] = []) => failure(instanceRole, text, values);
  const rows = async (text: string, values: unknown[] = []) => (await instanceRole.query(text, values)).rows;

  it("may call only the ledger's functions, each of which checks its arguments", async () => {
    const { rows: granted } = await admin.query(
      `
      SELECT p.proname AS name FROM pg_proc p
       WHERE p.pronamespace = 'public'::regnamespace AND has_function_privilege($1, p.oid, 'EXECUTE') ORDER BY 1`,
      [INSTANCE_ROLE],
    );
    expect(granted.map((row) => row.name)).toEqual([
      'expirar_chaves',
      'extratos',
      'historico',
      'iso_utc',
      'registrar_movimentos',
      'registrar_transacao',
      'registrar_transacoes',
    ]);
    for (const helper of [
      'SELECT * FROM escrita_autorizada(NULL, 1)',
      "SELECT validar_lote('{1}', '{1}', '{c}', '{x}', NULL, 0, NULL)",
      "SELECT * FROM chaves_do_lote('{1}', '{0}', '{k}')",
      "SELECT vetor_do_lote('{1}'::int[], 1)",
      "SELECT transacao_valida(1, 1, 'c', 'x')",
    ]) {
      expect(await attempt(helper), helper).toMatchObject({ code: INSUFFICIENT_PRIVILEGE });
    }
  });

  it("may not read or change the owner's settings (key retention, keys required)", async () => {
    for (const statement of [
      'SELECT * FROM configuracao',
      'UPDATE configuracao SET retencao_chaves_s = 1',
      'UPDATE configuracao SET chave_api_obrigatoria = false',
    ]) {
      expect(await attempt(statement), statement).toMatchObject({ code: INSUFFICIENT_PRIVILEGE });
    }
  });

  it("may not read the API keys' hashes, which prove a write's key", async () => {
    expect(await attempt('SELECT hash FROM chaves_api')).toMatchObject({ code: INSUFFICIENT_PRIVILEGE });
  });

  it('may not apply a transaction the API could not have sent', async () => {
    for (const call of [
      "SELECT * FROM registrar_transacoes('[0:1]={3,4}', '{1,1}', '{c,c}', '{a,b}')",
      "SELECT * FROM registrar_transacao(3, 0, 'c', 'zero')",
      "SELECT * FROM registrar_transacao(3, 5, 'x', 'tipo')",
      "SELECT * FROM registrar_transacao(3, 5, 'c', E'\\u202e')",
    ]) {
      expect(await attempt(call), call).toMatchObject({ code: '22023' });
    }
  });

  it('may not credit a write to a key it holds no proof of, nor write without a key when the owner requires keys', async () => {
    expect(await attempt("SELECT * FROM registrar_transacao(1, 1, 'c', 'alheia', NULL, 0, 1)")).toMatchObject({
      code: '42883',
    });
    expect(
      await rows("SELECT resultado FROM registrar_transacao(1, 1, 'c', 'forjada', NULL, 0, $1)", [randomBytes(32)]),
    ).toEqual([{ resultado: 'chave_api_invalida' }]);
    await admin.query('UPDATE configuracao SET chave_api_obrigatoria = true');
    try {
      expect(await rows("SELECT resultado FROM registrar_transacao(1, 1, 'c', 'anonima')")).toEqual([
        { resultado: 'autenticacao_necessaria' },
      ]);
    } finally {
      await admin.query('UPDATE configuracao SET chave_api_obrigatoria = false');
    }
    expect(await database.query("SELECT 1 FROM transacoes WHERE descricao IN ('forjada', 'anonima')")).toEqual([]);
  });

  it("may not forget an idempotency key before the owner's retention", async () => {
    await rows("SELECT * FROM registrar_transacao(1, 1, 'c', 'lembrada', 'lembrada', 0)");
    expect(await attempt('SELECT expirar_chaves(0, 1000000)')).toMatchObject({ code: '42883' });
    await rows('SELECT expirar_chaves(10000)');
    expect(await database.query("SELECT 1 FROM chaves_idempotencia WHERE chave = 'lembrada'")).toHaveLength(1);
  });

  it('may not read a page of history past a cursor it made up', async () => {
    expect(
      await rows('SELECT resultado FROM historico(1, 5, $1, 10, NULL, NULL, NULL, NULL, NULL)', [randomBytes(12)]),
    ).toEqual([{ resultado: 'cursor_invalido' }]);
  });
});

describe('a database made before the roles', () => {
  it("is handed over to the owner, everything in it, and then serves the instances' role", async () => {
    const name = `crebito_antigo_${randomBytes(4).toString('hex')}`;
    const urlAs = (user?: string) =>
      embeddedDatabaseUrl(name, inject('postgresSocketDirectory'), inject('postgresPort'), user);
    const maintenance = new pg.Client({ connectionString: inject('maintenanceUrl') });
    await maintenance.connect();
    try {
      // As the launcher made it before: the superuser's database, schema applied by the superuser.
      await maintenance.query(`CREATE DATABASE ${name}`);
      await applySchema(urlAs());
      await handOverToOwner(urlAs());
      await applySchema(urlAs(OWNER_ROLE));
      const old = new pg.Client({ connectionString: urlAs() });
      await old.connect();
      const owners = (
        await old.query(`
        SELECT relowner::regrole::text AS owner FROM pg_class WHERE relnamespace = 'public'::regnamespace
        UNION SELECT proowner::regrole::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace
        UNION SELECT datdba::regrole::text FROM pg_database WHERE datname = current_database()`)
      ).rows;
      await old.end();
      expect(owners).toEqual([{ owner: OWNER_ROLE }]);
      const api = new pg.Client({ connectionString: urlAs(INSTANCE_ROLE) });
      await api.connect();
      const [row] = (await api.query("SELECT resultado FROM registrar_transacao(1, 5, 'c', 'antigo')")).rows;
      await api.end();
      expect(row).toEqual({ resultado: 'aplicada' });
    } finally {
      await maintenance.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await maintenance.end();
    }
  });
});

describe('transacoes is append-only', () => {
  it.each([
    ['a role granted UPDATE, DELETE and TRUNCATE on it', () => writerRole],
    ['its owner', () => OWNER_ROLE],
  ])('UPDATE, DELETE and TRUNCATE are refused by its trigger for %s, and nothing changes', async (_, role) => {
    await admin.query("SELECT registrar_transacao(3, 55, 'c', 'fixa')");
    const before = await database.query('SELECT * FROM transacoes ORDER BY id');
    for (const statement of [
      'UPDATE transacoes SET valor = valor + 1',
      'DELETE FROM transacoes',
      'TRUNCATE transacoes',
      'DELETE FROM transacoes WHERE false',
    ]) {
      expect(await asRole(role(), statement), statement).toMatchObject({
        code: INSUFFICIENT_PRIVILEGE,
        message: expect.stringContaining('transacoes is append-only'),
      });
    }
    expect(
      await asRole(
        role(),
        "INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos) VALUES (3, 1, 'c', 'nova', 0)",
      ),
    ).toBeUndefined();
    expect(await database.query('SELECT * FROM transacoes ORDER BY id')).toEqual(before);
  });
});

describe('an instance logged in as a superuser or as the owner', () => {
  it.each([
    ['a superuser', () => database.adminUrl, /logs in as crebito, a superuser/],
    ["the schema's owner", () => database.ownerUrl, /logs in as crebito_owner, the schema's owner/],
  ])('refuses to work as %s, saying why in one line', async (_, url, reason) => {
    // It opens and warms its pool before it listens: the role is checked on
    // the first connection, so it stops before it ever says ready.
    const failure = await startInstance({ databaseUrl: url() }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).toMatch(/exited \(1\) before it was ready/);
    const line = failure!.message.split('\n').find((each) => reason.test(each));
    expect(line).toContain('CREBITO_ALLOW_SUPERUSER=on');
  });

  it('works as one when CREBITO_ALLOW_SUPERUSER=on', async () => {
    const instance = await startInstance({
      databaseUrl: database.adminUrl,
      environment: { CREBITO_ALLOW_SUPERUSER: 'on' },
    });
    try {
      expect((await getStatement(instance.baseUrl, 1)).status).toBe(200);
    } finally {
      await instance.stop();
    }
  });

  it('is refused by npm start before any instance starts', async () => {
    const started = startStack({
      port: await freePort(),
      dataDirectory: makeDataDirectory(),
      environment: { DATABASE_URL: database.adminUrl, CREBITO_NGINX: 'off' },
    });
    await expect(started).rejects.toThrow(
      /could not start: DATABASE_URL logs in as crebito, a superuser: .*CREBITO_ALLOW_SUPERUSER=on/,
    );
  });
});
