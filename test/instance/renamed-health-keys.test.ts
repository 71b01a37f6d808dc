// Names changed in this release keep working for one more (docs/development.md,
// Names changed in this release): the admin /health shows the statement's
// numbers under `extrato` and its former `extratos`, and the idempotency key
// expiry's under its new names and its former ones, the same numbers each.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { readAdminHealth } from '../support/health.js';
import { getStatement } from '../support/http.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

let database: TestDatabase;
let instance: RunningInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  instance = await startInstance({ databaseUrl: database.url });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

describe('the admin /health, for one release', () => {
  it("shows the statement's numbers under both labels, and the expiry's under both names", async () => {
    expect((await getStatement(instance.baseUrl, 1)).status).toBe(200);
    const { ledger } = (await readAdminHealth(instance.admin)) as unknown as { ledger: Record<string, unknown> };
    expect(ledger.extrato).toMatchObject({ inFlight: 0, waiting: 0 });
    expect(ledger.extratos).toEqual(ledger.extrato);
    expect(ledger.idempotencyKeysExpired).toEqual(expect.any(Number));
    expect(ledger.keysExpired).toBe(ledger.idempotencyKeysExpired);
    expect(ledger.idempotencyExpiryPassesBehind).toEqual(expect.any(Number));
    expect(ledger.keyExpiryPassesBehind).toBe(ledger.idempotencyExpiryPassesBehind);
  });
});
