// Regression: a connection that first read statements while transacoes was
// nearly empty cached a generic plan that fetched all of a client's rows and
// sorted them, and kept it as the table grew (measured once: 650 instead of
// 5,000 statements a second after 40,000 inserts). The instances' sessions
// (SESSION_OPTIONS) leave the planner only the index scan. The generic plan
// is forced here, made on the empty table and read after it has grown, as a
// long-lived connection would have it.

import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { SESSION_OPTIONS } from '../../src/instance/database/pool.js';
import { STATEMENT_QUERY } from '../../src/instance/ledger/statements.js';
import { STATEMENT_TRANSACTIONS_MAX } from '../../src/shared/limits.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const databases: TestDatabase[] = [];

afterAll(async () => {
  for (const database of databases) await database.close();
});

/** A database whose transacoes has never held a row, and that nothing analyzes behind the test's back. */
async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  databases.push(database);
  await database.query('ALTER TABLE transacoes SET (autovacuum_enabled = false)');
  return database;
}

/** The plan a connection with these options makes for the instance's statement query on the empty table, and keeps (after 20,000 rows arrive, if asked). */
async function keptPlan(
  options: string | undefined,
  table: { grow: boolean },
  planCacheMode: 'force_generic_plan' | 'force_custom_plan',
): Promise<string> {
  const database = await freshDatabase();
  const client = new pg.Client({ connectionString: database.url, ...(options === undefined ? {} : { options }) });
  await client.connect();
  try {
    await client.query(`SET plan_cache_mode = ${planCacheMode}`);
    await client.query(`PREPARE extrato_plan (integer[], integer) AS ${STATEMENT_QUERY.text}`);
    await client.query(`EXECUTE extrato_plan(ARRAY[1], ${STATEMENT_TRANSACTIONS_MAX})`);
    if (table.grow) {
      // Written beside the instance's role, which may not INSERT.
      await database.query(
        "INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos) SELECT 1 + g % 5, 1, 'c', 'x', 0 FROM generate_series(1, 20000) g",
      );
    }
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (COSTS OFF) EXECUTE extrato_plan(ARRAY[1], ${STATEMENT_TRANSACTIONS_MAX})`,
    );
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  } finally {
    await client.end();
  }
}

describe("the statement's plan", () => {
  it.each([
    ['generic', true, 'force_generic_plan'],
    ['generic', false, 'force_generic_plan'],
    ['custom', true, 'force_custom_plan'],
    ['custom', false, 'force_custom_plan'],
  ] as const)(
    'regression: a %s plan an instance session makes on an empty table (read after 20,000 inserts: %s) ' +
      'takes the newest rows by the index, without sorting them',
    async (_, grow, mode) => {
      const plan = await keptPlan(SESSION_OPTIONS, { grow }, mode);
      expect(plan).toMatch(/Index Scan using transacoes_cliente_id_id_desc on transacoes/);
      expect(plan).not.toMatch(/Seq Scan on transacoes|Bitmap Heap Scan on transacoes|Sort Key: tr\.id/);
    },
  );

  it("without those options, the plan made on the empty table fetches the client's rows and sorts them (what the options prevent)", async () => {
    const plan = await keptPlan(undefined, { grow: false }, 'force_custom_plan');
    expect(plan).toMatch(/Sort Key: tr\.id DESC\n/);
  });
});
