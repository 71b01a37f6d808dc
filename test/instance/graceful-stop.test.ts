// Stopping and starting: a SIGTERM finishes requests already in flight before
// the instance exits, and a new instance on the same data sees everything.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { readHealth } from '../support/health.js';
import { holdTransactionInserts } from '../support/hold-calls.js';
import { getStatement, postTransaction } from '../support/http.js';
import { startInstance } from '../support/instance.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.close();
});

describe('graceful stop', () => {
  it('SIGTERM waits for in-flight transactions, answers them, and exits 0', async () => {
    const instance = await startInstance({ databaseUrl: database.url });
    // Hold the inserts from outside, so the requests are truly in flight
    // (waiting inside registrar_transacao) when the signal arrives.
    const blocker = await holdTransactionInserts(database.adminUrl);
    try {
      const before = await database.balance(3);
      const pending = Array.from({ length: 8 }, (_, index) =>
        postTransaction(instance.baseUrl, 3, { valor: 10, tipo: 'c', descricao: `drain${index}` }),
      );
      // All eight are inside the instance, and its calls wait on the lock
      // (some may share one call: see the batcher).
      const allWaitOnTheLock = async () =>
        (await readHealth(`127.0.0.1:${instance.port}`)).inFlight === 8 &&
        (
          await database.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
          )
        )[0]!.n >= 1;
      await waitForOrThrow('eight requests in flight, waiting on the lock', allWaitOnTheLock, {
        timeoutMs: 10_000,
        intervalMs: 20,
      });

      const exitCode = instance.stop('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(instance.child.exitCode).toBeNull();
      await blocker.release();

      const responses = await Promise.all(pending);
      expect(responses.map((response) => response.status)).toEqual(Array(8).fill(200));
      expect(await exitCode).toBe(0);
      expect(await database.balance(3)).toBe(before + 80);
    } finally {
      await blocker.release();
    }
  });
});

describe('restart on the same data', () => {
  it('balances and history are intact after a stop and a start', async () => {
    const first = await startInstance({ databaseUrl: database.url });
    for (const descricao of ['antes1', 'antes2', 'antes3']) {
      expect((await postTransaction(first.baseUrl, 1, { valor: 7, tipo: 'd', descricao })).status).toBe(200);
    }
    const statementBefore = (await getStatement(first.baseUrl, 1)).body;
    expect(await first.stop()).toBe(0);

    const second = await startInstance({ databaseUrl: database.url });
    try {
      const statementAfter = (await getStatement(second.baseUrl, 1)).body;
      expect(statementAfter.saldo.total).toBe(statementBefore.saldo.total);
      expect(statementAfter.ultimas_transacoes).toEqual(statementBefore.ultimas_transacoes);
      expect(statementAfter.ultimas_transacoes.slice(0, 3).map((t: { descricao: string }) => t.descricao)).toEqual([
        'antes3',
        'antes2',
        'antes1',
      ]);
    } finally {
      await second.stop();
    }
  });
});
