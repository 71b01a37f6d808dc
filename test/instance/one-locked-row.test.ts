// One client's row locked from outside (a DBA's SELECT ... FOR UPDATE, a
// stuck migration, a long report) must hold up that client alone. Before,
// shared calls mixed clients and waited inside the database on the row: the
// instance's one transaction call stalled with every other client's requests
// in it or behind it, late calls opened the breaker as if the database had
// gone, and everybody got 503s.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failures } from '../../src/shared/failures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { getStatement, postTransaction, type JsonResponse } from '../support/http.js';
import { readAdminHealth } from '../support/health.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

const LOCKED_CLIENT_ID = 1;
const OTHER_CLIENT_IDS = [2, 3, 4, 5];
// Rounds of requests sent together, so that the locked client's requests
// share calls with the others'; a pause between rounds spreads them over
// more than one queue wait.
const ROUNDS = 8;
const ROUND_PAUSE_MS = 100;

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

interface Round {
  locked: Promise<JsonResponse>[];
  others: Promise<JsonResponse>[];
}

function sendRound(round: number): Round {
  const locked = [0, 1].map((index) =>
    postTransaction(instance.baseUrl, LOCKED_CLIENT_ID, { valor: 7, tipo: 'c', descricao: `preso${round}${index}` }),
  );
  const others = OTHER_CLIENT_IDS.flatMap((clientId) => [
    postTransaction(instance.baseUrl, clientId, { valor: 1, tipo: 'c', descricao: `livre${round}` }),
    getStatement(instance.baseUrl, clientId),
  ]);
  return { locked, others };
}

describe('one client row locked by another database session', () => {
  it('regression: one locked client row broke every client (shared calls waited on it, the breaker opened)', async () => {
    const before = await database.balance(LOCKED_CLIENT_ID);
    const holder = new pg.Client({ connectionString: database.adminUrl });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM clientes WHERE id = $1 FOR UPDATE', [LOCKED_CLIENT_ID]);
    const rounds: Round[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        rounds.push(sendRound(round));
        await new Promise((resolve) => setTimeout(resolve, ROUND_PAUSE_MS));
      }
      const others = await Promise.all(rounds.flatMap((round) => round.others));
      const locked = await Promise.all(rounds.flatMap((round) => round.locked));

      expect(others.filter((response) => response.status !== 200).map((response) => response.text)).toEqual([]);
      for (const response of locked) {
        expect(response.status).toBe(503);
        expect(response.text).toBe(failures.clientBusy.body);
        expect(response.body.pode_ter_sido_aplicada).toBe(false);
      }
      const health = await readAdminHealth(instance.admin);
      expect(health.ledger.breaker.opened).toBe(0);
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }
    // Nothing the locked client asked for was applied, and it is served again once the row is free.
    expect(await database.balance(LOCKED_CLIENT_ID)).toBe(before);
    expect(await database.query('SELECT 1 FROM transacoes WHERE cliente_id = $1', [LOCKED_CLIENT_ID])).toEqual([]);
    expect(
      (await postTransaction(instance.baseUrl, LOCKED_CLIENT_ID, { valor: 7, tipo: 'c', descricao: 'depois' })).status,
    ).toBe(200);
  });
});
