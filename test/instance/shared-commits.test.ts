// Shared commits through a real instance: requests that waited together are
// sent as one call, and one bad row in it must not fail the others.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, waitForOrThrow } from '../../src/shared/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { readHealth } from '../support/health.js';
import { holdTransactionInserts } from '../support/hold-calls.js';
import { getStatement, postTransaction } from '../support/http.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

let database: TestDatabase;
let instance: RunningInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  // A rule the service does not know, standing for any row that passes
  // validation and then breaks a rule of the schema.
  await database.query("ALTER TABLE transacoes ADD CONSTRAINT teste_veneno CHECK (descricao <> 'veneno')");
  // One transaction call at a time: the requests after the held one must all wait for it (with a spare slot,
  // the first of another client would go at once, alone).
  instance = await startInstance({ databaseUrl: database.url, environment: { CREBITO_BATCHES_IN_FLIGHT_MAX: '1' } });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

describe('a batch with a row the database refuses', () => {
  it('regression: one row that passed validation and failed in SQL crashed the instance with its whole batch', async () => {
    const listen = `127.0.0.1:${instance.port}`;
    // Hold the inserts so the first request's call waits inside the
    // database, and the next three queue up behind it to share one call.
    const blocker = await holdTransactionInserts(database.adminUrl);
    const first = postTransaction(instance.baseUrl, 1, { valor: 1, tipo: 'c', descricao: 'primeira' });
    await waitForOrThrow('the first call in flight', async () => (await readHealth(listen)).inFlight === 1, {
      timeoutMs: 5000,
      intervalMs: 10,
    });
    const batch = [
      postTransaction(instance.baseUrl, 2, { valor: 10, tipo: 'c', descricao: 'inocente1' }),
      postTransaction(instance.baseUrl, 2, { valor: 20, tipo: 'c', descricao: 'veneno' }),
      postTransaction(instance.baseUrl, 3, { valor: 30, tipo: 'c', descricao: 'inocente2' }),
    ];
    await waitForOrThrow(
      'three requests waiting to share a call',
      async () =>
        ((await readHealth(instance.admin)) as unknown as { ledger: { transacoes: { waiting: number } } }).ledger
          .transacoes.waiting === 3,
      { timeoutMs: 5000, intervalMs: 10 },
    );
    await blocker.release();

    expect((await first).status).toBe(200);
    const [innocent1, poisoned, innocent2] = await Promise.all(batch);
    expect(innocent1!.status).toBe(200);
    expect(innocent2!.status).toBe(200);
    expect(poisoned!.status).toBe(500);
    expect(poisoned!.body.erro).toBe('erro_interno');
    expect(instance.child.exitCode).toBeNull();
    // The log is written asynchronously: the 500 can reach the client before its line reaches our pipe.
    const bugLine = 'BUG: the database rejected a transaction that passed validation';
    await waitFor(() => instance.output().includes(bugLine), { timeoutMs: 5000, intervalMs: 10 });
    expect(instance.output()).toContain(bugLine);

    const stored = await database.query<{ descricao: string }>('SELECT descricao FROM transacoes ORDER BY id');
    expect(stored.map((row) => row.descricao)).toEqual(['primeira', 'inocente1', 'inocente2']);
    expect((await getStatement(instance.baseUrl, 2)).body.saldo.total).toBe(10);
  });
});
