// Idempotency keys where timing decides, against two real instances on one
// database, each request sent to the instance the case needs: a retry that
// arrives while its first attempt still runs (it waits and replays, or past
// its bound answers 409), two requests with one key in one shared commit,
// and keys expiring in the background. The first attempt is held inside the
// database by a lock on transacoes taken from outside (support/hold-calls.ts).

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { readAdminHealth, readHealth } from '../support/health.js';
import { holdTransactionInserts, TABLE_LOCK_WAIT_EVENT } from '../support/hold-calls.js';
import { postTransaction, postWithKey } from '../support/http.js';
import { startInstance, type RunningInstance, startInstances } from '../support/instance.js';
import { operationHealth } from '../../src/instance/ledger/ledger.js';

const SHORT_WAIT_MS = 300;
const WAIT = { timeoutMs: 10_000, intervalMs: 10 };

let database: TestDatabase;
/** Gives up on a key in use after SHORT_WAIT_MS. */
let impatient: RunningInstance;
/** Waits up to 4 s for a key in use. */
let patient: RunningInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  [impatient, patient] = (await startInstances([
    {
      databaseUrl: database.url,
      name: 'impatient',
      environment: { CREBITO_IDEMPOTENCY_WAIT_MS_MAX: String(SHORT_WAIT_MS) },
    },
    {
      databaseUrl: database.url,
      name: 'patient',
      environment: { CREBITO_IDEMPOTENCY_WAIT_MS_MAX: '4000', CREBITO_REQUEST_TIMEOUT_MS: '9000' },
    },
  ])) as [RunningInstance, RunningInstance];
});

afterAll(async () => {
  await Promise.all([impatient?.stop(), patient?.stop()]);
  await database?.close();
});

const backendsWaiting = async (event: string) =>
  (
    await database.query('SELECT 1 FROM pg_stat_activity WHERE wait_event = $1 AND datname = current_database()', [
      event,
    ])
  ).length;

/** Sends a keyed request to an instance and holds it inside the database, its row and key locked, waiting to insert. */
async function heldFirstAttempt(target: RunningInstance, clientId: number, body: object, key: string) {
  const hold = await holdTransactionInserts(database.adminUrl);
  const first = postWithKey(target.baseUrl, clientId, body, key);
  await waitForOrThrow(
    'the first attempt waiting on the table lock',
    async () => (await backendsWaiting(TABLE_LOCK_WAIT_EVENT)) > 0,
    WAIT,
  );
  return { first, release: hold.release };
}
const rowsOf = async (descricao: string) =>
  (await database.query('SELECT 1 FROM transacoes WHERE descricao = $1', [descricao])).length;

describe('a retry while its first attempt is still running', () => {
  it('past the wait bound it answers 409 and applies nothing; once the first commits, a retry replays it', async () => {
    const key = randomUUID();
    const body = { valor: 5, tipo: 'c', descricao: 'primeira' };
    const { first, release } = await heldFirstAttempt(patient, 1, body, key);
    const early = await postWithKey(impatient.baseUrl, 1, body, key);
    expect(early.status).toBe(409);
    expect(JSON.parse(early.bytes.toString()).erro).toBe('chave_idempotencia_em_uso');
    expect(await rowsOf('primeira')).toBe(0);

    await release();
    const applied = await first;
    expect([applied.status, applied.replayed]).toEqual([200, false]);
    const retry = await postWithKey(impatient.baseUrl, 1, body, key);
    expect([retry.status, retry.replayed]).toEqual([200, true]);
    expect(retry.bytes.equals(applied.bytes)).toBe(true);
    expect(await rowsOf('primeira')).toBe(1);
  });

  it('within the wait bound it waits for the first to commit, then replays its answer', async () => {
    const key = randomUUID();
    const body = { valor: 6, tipo: 'c', descricao: 'espera' };
    const { first, release } = await heldFirstAttempt(impatient, 2, body, key);
    const retry = postWithKey(patient.baseUrl, 2, body, key);
    // The retry polls for the key's lock, which the first attempt holds.
    await waitForOrThrow('the retry waiting for the key', async () => (await backendsWaiting('PgSleep')) > 0, WAIT);
    await release();

    const [applied, replayed] = await Promise.all([first, retry]);
    expect([applied.status, applied.replayed, replayed.status, replayed.replayed]).toEqual([200, false, 200, true]);
    expect(replayed.bytes.equals(applied.bytes)).toBe(true);
    expect(await rowsOf('espera')).toBe(1);
  });
});

describe('one key twice in one shared commit', () => {
  it('the first is applied and the second replays it, in the same call', async () => {
    const key = randomUUID();
    const body = { valor: 9, tipo: 'd', descricao: 'lote' };
    const listen = `127.0.0.1:${patient.port}`;
    // A first call held in the database occupies the instance's one
    // transaction slot, so the next two wait and go together, as one call.
    const hold = await holdTransactionInserts(database.adminUrl);
    const occupying = postTransaction(patient.baseUrl, 3, { valor: 1, tipo: 'c', descricao: 'ocupa' });
    await waitForOrThrow('the occupying call in flight', async () => (await readHealth(listen)).inFlight === 1, WAIT);
    const pair = [postWithKey(patient.baseUrl, 3, body, key), postWithKey(patient.baseUrl, 3, body, key)];
    await waitForOrThrow(
      'two requests waiting to share a call',
      async () => operationHealth((await readAdminHealth(patient.admin)).ledger, 'transacoes').waiting === 2,
      WAIT,
    );
    await hold.release();

    expect((await occupying).status).toBe(200);
    const answers = await Promise.all(pair);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(answers.map((answer) => answer.replayed).sort()).toEqual([false, true]);
    expect(answers[0]!.bytes.equals(answers[1]!.bytes)).toBe(true);
    expect(await rowsOf('lote')).toBe(1);
  });
});

describe('key expiry', () => {
  it('removes keys past the retention in the background; a retry after that is a new request', async () => {
    const scratch = await createTestDatabase();
    // The retention is the owner's (the launcher writes it from the same setting); the instance's paces its passes.
    await scratch.query('UPDATE configuracao SET retencao_chaves_s = 1');
    const forgetful = await startInstance({
      databaseUrl: scratch.url,
      name: 'forgetful',
      environment: { CREBITO_IDEMPOTENCY_RETENTION_S: '1' },
    });
    try {
      const key = randomUUID();
      const body = { valor: 4, tipo: 'c', descricao: 'expira' };
      expect((await postWithKey(forgetful.baseUrl, 4, body, key)).replayed).toBe(false);
      expect((await postWithKey(forgetful.baseUrl, 4, body, key)).replayed).toBe(true);
      await waitForOrThrow(
        'the key removed',
        async () => (await scratch.query('SELECT 1 FROM chaves_idempotencia')).length === 0,
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      expect((await readAdminHealth(forgetful.admin)).ledger.idempotencyKeysExpired).toBe(1);
      const again = await postWithKey(forgetful.baseUrl, 4, body, key);
      expect([again.status, again.replayed]).toEqual([200, false]);
      expect((await scratch.query("SELECT 1 FROM transacoes WHERE descricao = 'expira'")).length).toBe(2);
    } finally {
      await forgetful.stop();
      await scratch.close();
    }
  });
});
