// Slow requests in the log: under stress they come by the hundred, and a
// line each made the log a load of its own. The first slow request of a
// route in an interval is logged as it comes, the rest as one count at the
// interval's end (src/shared/repeats.ts); the metrics still count each.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { holdTransactionInserts } from '../support/hold-calls.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

const REQUESTS = 30;
/** How long the held calls wait: far past CREBITO_SLOW_REQUEST_MS, so every one of them is slow. */
const HOLD_MS = 200;

let database: TestDatabase;
let instance: RunningInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  instance = await startInstance({
    databaseUrl: database.url,
    name: 'slow-folded',
    environment: { CREBITO_SLOW_REQUEST_MS: '20' },
  });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

describe('regression: about 1,000 slow request warnings in two minutes of load', () => {
  it(`${REQUESTS} slow requests on one route log one line`, async () => {
    const held = await holdTransactionInserts(database.adminUrl);
    const answers = Array.from({ length: REQUESTS }, (_, index) =>
      fetch(`${instance.baseUrl}/clientes/${1 + (index % 5)}/transacoes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ valor: 1, tipo: 'c', descricao: 'lenta' }),
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
    await held.release();
    expect((await Promise.all(answers)).map((response) => response.status)).toEqual(Array(REQUESTS).fill(200));
    const lines = instance
      .output()
      .split('\n')
      .filter((line) => line.includes('"msg":"slow request"'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"route":"transacoes"');
  });
});
