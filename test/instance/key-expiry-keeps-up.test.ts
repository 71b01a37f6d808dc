// Regression: the expiry of idempotency keys removed a fixed 20 x 1000
// keys per pass, and keys arriving faster than that grew chaves_idempotencia
// without bound. Here keys arrive well above what fixed passes removed, for
// a minute, with a retention of a few seconds, and the table must never
// hold more than what arrived in the retention plus two expiry periods.
// This file takes about 70 s: keeping up is only shown over a minute of load.
//
// The keys are written by SQL, as keyed transactions would store them,
// rather than through HTTP: the subject is the expiry's pace, and writing
// ten thousand keys a second through HTTP would measure the shared test
// machine's CPU instead.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { readAdminHealth } from '../support/health.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

const RETENTION_S = 5;
/** The instance's pass interval at this retention (idempotency-expiry.ts: as often as the retention when it is under a minute). */
const EXPIRY_PERIOD_S = RETENTION_S;
/** Attempted 10,000 keys/s: well above what fixed passes removed at this retention (20,000 per period: 4,000 keys/s). */
const IDEMPOTENCY_KEYS_PER_TICK = 1000;
const TICK_MS = 100;
const LOAD_MS = 60_000;

let database: TestDatabase;
let instance: RunningInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  // The retention is the owner's (the launcher writes it from the same setting); the instance's paces its passes.
  await database.query('UPDATE configuracao SET retencao_chaves_s = $1', [RETENTION_S]);
  instance = await startInstance({
    databaseUrl: database.url,
    name: 'expiry',
    environment: { CREBITO_IDEMPOTENCY_RETENTION_S: String(RETENTION_S) },
  });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

const keyCount = async () =>
  Number((await database.query<{ n: string }>('SELECT count(*) AS n FROM chaves_idempotencia'))[0]!.n);

describe('key expiry under keyed load', () => {
  it('keeps chaves_idempotencia within arrivals x (retention + two expiry periods) for a minute of keys well above 667/s', async () => {
    const startedMs = performance.now();
    let written = 0;
    let largest = 0;
    // Bounded: one tick per TICK_MS at most, for LOAD_MS.
    for (let tick = 0; tick < LOAD_MS / TICK_MS && performance.now() - startedMs < LOAD_MS; tick++) {
      const tickStartedMs = performance.now();
      await database.query(
        `INSERT INTO chaves_idempotencia (cliente_id, chave, valor, tipo, descricao, resultado, limite, saldo)
        SELECT 1 + g % 5, 'carga-' || g, 1, 'c', 'x', 'aplicada', 0, 0 FROM generate_series($1::bigint, $2::bigint) g`,
        [written + 1, written + IDEMPOTENCY_KEYS_PER_TICK],
      );
      written += IDEMPOTENCY_KEYS_PER_TICK;
      if (tick % 5 === 0) largest = Math.max(largest, await keyCount());
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, TICK_MS - (performance.now() - tickStartedMs))));
    }
    const arrivalsPerS = written / ((performance.now() - startedMs) / 1000);
    largest = Math.max(largest, await keyCount());
    const bound = arrivalsPerS * (RETENTION_S + 2 * EXPIRY_PERIOD_S);
    console.log(
      `key expiry: ${written} keys at ${arrivalsPerS.toFixed(0)}/s; largest table ${largest}, bound ${bound.toFixed(0)}`,
    );
    expect(arrivalsPerS).toBeGreaterThan(20_000 / EXPIRY_PERIOD_S);
    expect(largest).toBeLessThanOrEqual(bound);
    const health = await readAdminHealth(instance.admin);
    expect(health.ledger.idempotencyKeysExpired).toBeGreaterThanOrEqual(written - largest);
    // The former name, kept for one release.
    expect(health.ledger.keysExpired).toBe(health.ledger.idempotencyKeysExpired);
  }, 120_000);
});
