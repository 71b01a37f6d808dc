// CREBITO_API_KEYS_STALE_MS bounds how long an instance trusts API keys it
// could not confirm: two instances on one database, the keys' counter table
// locked so that neither poll is answered; the one at the default bound
// refuses with 503 banco_indisponivel, and, at that moment (its keys at least
// as old), the one given a minute still serves. Released, both serve again.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failures } from '../../src/shared/failures.js';
import { SETTINGS } from '../../src/shared/settings.js';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { createKey } from '../../tools/keys/keys.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startInstances, type RunningInstance } from '../support/instance.js';

const WAIT = { timeoutMs: 15_000, intervalMs: 50 };
const PATIENT_STALE_MS = 60_000;

let database: TestDatabase;
let strict: RunningInstance;
let patient: RunningInstance;
let secret: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const owner = new pg.Client({ connectionString: database.ownerUrl });
  await owner.connect();
  secret = await createKey(owner, { name: 'leitor', clients: 'all', scope: 'read', expiresInS: undefined });
  await owner.end();
  const started = await startInstances([
    { databaseUrl: database.url, name: 'strict', environment: { CREBITO_AUTH: 'keys' } },
    {
      databaseUrl: database.url,
      name: 'patient',
      environment: { CREBITO_AUTH: 'keys', CREBITO_API_KEYS_STALE_MS: String(PATIENT_STALE_MS) },
    },
  ]);
  [strict, patient] = started as [RunningInstance, RunningInstance];
  for (const instance of [strict, patient]) {
    const ready = async () => (await fetch(`${instance.baseUrl}/ready`)).status === 200;
    await waitForOrThrow(`${instance.baseUrl} ready`, ready, WAIT);
  }
});

afterAll(async () => {
  await Promise.all([strict?.stop(), patient?.stop()]);
  await database?.close();
});

const statement = async (instance: RunningInstance) => {
  const headers = { authorization: `Bearer ${secret}` };
  const response = await fetch(`${instance.baseUrl}/clientes/1/extrato`, { headers });
  return { status: response.status, text: await response.text() };
};

describe('CREBITO_API_KEYS_STALE_MS', () => {
  it('an instance trusts keys it could not confirm for as long as it is told, and no longer', async () => {
    expect(SETTINGS.apiKeysStaleMs.default).toBeLessThan(PATIENT_STALE_MS);
    expect((await statement(strict)).status).toBe(200);
    const locker = new pg.Client({ connectionString: database.adminUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE versao_chaves_api IN ACCESS EXCLUSIVE MODE');
      const refusing = async () => (await statement(strict)).status === 503;
      await waitForOrThrow('the strict instance refusing stale keys', refusing, WAIT);
      expect((await statement(strict)).text).toBe(failures.databaseDown.body);
      expect((await statement(patient)).status).toBe(200);
    } finally {
      await locker.query('COMMIT');
      await locker.end();
    }
    const serving = async () => (await statement(strict)).status === 200;
    await waitForOrThrow('the strict instance serving again', serving, WAIT);
  });
});
