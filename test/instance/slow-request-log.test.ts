// CREBITO_SLOW_REQUEST_MS: a request answered slower than it is logged
// (warn) with its route, status and duration. The request is made slow for
// certain, not by chance: its transaction is held inside the database behind
// a table lock for longer than the bound, then let go.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { holdTransactionInserts, TABLE_LOCK_WAIT_EVENT } from '../support/hold-calls.js';
import { postTransaction } from '../support/http.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

const SLOW_REQUEST_MS = 100;
const HELD_MS = 3 * SLOW_REQUEST_MS;
const WAIT = { timeoutMs: 10_000, intervalMs: 10 };

let database: TestDatabase;
let instance: RunningInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  const environment = { CREBITO_SLOW_REQUEST_MS: String(SLOW_REQUEST_MS) };
  instance = await startInstance({ databaseUrl: database.url, environment });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

const slowLines = () =>
  instance
    .output()
    .split('\n')
    .filter((line) => line.includes('"slow request"'))
    .map((line) => JSON.parse(line) as { route: string; status: number; durationMs: number });

describe('CREBITO_SLOW_REQUEST_MS', () => {
  it('logs a request held longer than the bound, with its route, status and duration', async () => {
    expect(slowLines()).toEqual([]);
    const hold = await holdTransactionInserts(database.adminUrl);
    try {
      const answer = postTransaction(instance.baseUrl, 1, { valor: 1, tipo: 'c', descricao: 'lenta' });
      const waiting = 'SELECT 1 FROM pg_stat_activity WHERE wait_event = $1 AND datname = current_database()';
      await waitForOrThrow(
        'the transaction waiting on the table lock',
        async () => (await database.query(waiting, [TABLE_LOCK_WAIT_EVENT])).length > 0,
        WAIT,
      );
      await new Promise((resolve) => setTimeout(resolve, HELD_MS));
      await hold.release();
      expect((await answer).status).toBe(200);
    } finally {
      await hold.release();
    }
    await waitForOrThrow('the slow request logged', async () => slowLines().length > 0, WAIT);
    expect(slowLines()).toEqual([expect.objectContaining({ route: 'transacoes', status: 200 })]);
    expect(slowLines()[0]!.durationMs).toBeGreaterThan(SLOW_REQUEST_MS);
  });
});
