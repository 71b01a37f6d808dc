// The instances' role may run exactly the SQL functions the operations'
// declarations say their queries call: a function granted to crebito_api
// that nothing calls, or a called function without a grant, fails here. Read
// from the live catalogue, after sql/ was applied as the launcher applies it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerQueries } from '../../src/instance/ledger/warm-up.js';
import { API_OPERATIONS } from '../../src/instance/operations/index.js';
import { INSTANCE_ROLE } from '../../src/stack/database-roles.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.close();
});

const queries = ledgerQueries(API_OPERATIONS);
const called = [...new Set(queries.flatMap((query) => query.functions))].sort();

describe("grants against the operations' declarations", () => {
  it('crebito_api may execute every function a query calls, and nothing else', async () => {
    const rows = await database.query<{ name: string }>(
      `SELECT DISTINCT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND has_function_privilege($1, p.oid, 'EXECUTE') ORDER BY 1`,
      [INSTANCE_ROLE],
    );
    expect(rows.map((row) => row.name)).toEqual(called);
  });

  it('each query declares every function its text calls', () => {
    for (const query of queries) {
      const named = [...query.text.matchAll(/\b([a-z_]+)\s*\(/g)].map((match) => match[1]!);
      expect(
        named.filter((name) => !query.functions.includes(name)),
        query.name,
      ).toEqual([]);
    }
  });
});
