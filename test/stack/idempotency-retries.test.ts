// Idempotency keys through the whole stack, as `npm start` runs it: nginx in
// front of two instances, the embedded PostgreSQL. Storms of duplicates
// through both instances, a request whose client left after the commit,
// replays after the instances and after PostgreSQL restart. The wait bound
// is raised well above a transaction's time, so that a storm never meets a
// 409 on a busy machine (test/instance/idempotency-timing.test.ts covers 409).

import { randomUUID } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { allInstancesServe } from '../../tools/ledger-check/probes.js';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../../tools/harness/stack.js';
import { openDatabase, type TestDatabase } from '../support/database.js';
import { waitUntilIdle } from '../support/health.js';
import { holdTransactionInserts } from '../support/hold-calls.js';
import { postTransaction, postWithKey, postWithKeyToInstance, type KeyedResponse } from '../support/http.js';
import { LEAN_STACK } from '../support/lean-stack.js';

const STORM_REQUESTS = 40;
const RECOVERY = { timeoutMs: 30_000, intervalMs: 50 };

let stack: RunningStack;
let database: TestDatabase;

beforeAll(async () => {
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: { ...LEAN_STACK, CREBITO_IDEMPOTENCY_WAIT_MS_MAX: '4000', CREBITO_REQUEST_TIMEOUT_MS: '9000' },
  });
  database = openDatabase(stack.state().databaseUrl);
});

afterAll(async () => {
  await database?.close();
  await stack?.dispose();
});

const rowsOf = (clientId: number, descricao: string) =>
  database.query<{ id: string; saldo_apos: string }>(
    'SELECT id, saldo_apos FROM transacoes WHERE cliente_id = $1 AND descricao = $2',
    [clientId, descricao],
  );

/**
 * The duplicates alternate between the two instances' own sockets: through
 * nginx, a client's transactions all go to its home instance, and the storm
 * is meant to race both instances for one key (a client retrying through
 * another instance after its home failed, say).
 */
function storm(clientId: number, body: object, key: string): Promise<KeyedResponse[]> {
  const sockets = stack.state().instances.map((instance) => instance.listen.slice('unix:'.length));
  expect(sockets).toHaveLength(2);
  return Promise.all(
    Array.from({ length: STORM_REQUESTS }, (_, index) =>
      postWithKeyToInstance(sockets[index % 2]!, clientId, body, key),
    ),
  );
}

/** Every answer the same bytes and status, exactly one of them not a replay, and both instances among those that answered. */
function expectOneApplicationAndReplays(answers: KeyedResponse[], status: number): void {
  expect(answers.map((answer) => answer.status)).toEqual(Array(STORM_REQUESTS).fill(status));
  for (const answer of answers) expect(answer.bytes.equals(answers[0]!.bytes), answer.bytes.toString()).toBe(true);
  expect(answers.filter((answer) => !answer.replayed)).toHaveLength(1);
  expect(new Set(answers.map((answer) => answer.instance))).toEqual(new Set(['api-1', 'api-2']));
}

describe('duplicates through both instances', () => {
  it(`a storm of ${STORM_REQUESTS} identical requests applies once and answers the same bytes to all`, async () => {
    const before = await database.balance(1);
    const answers = await storm(1, { valor: 7, tipo: 'd', descricao: 'tempestade' }, randomUUID());
    expectOneApplicationAndReplays(answers, 200);
    expect(JSON.parse(answers[0]!.bytes.toString())).toEqual({ limite: 100000, saldo: before - 7 });
    expect(await rowsOf(1, 'tempestade')).toHaveLength(1);
    expect(await database.balance(1)).toBe(before - 7);
  });

  it(`a storm of ${STORM_REQUESTS} copies of a refused debit stores one refusal and moves nothing`, async () => {
    const before = await database.balance(2);
    const answers = await storm(2, { valor: 80_000 + before + 1, tipo: 'd', descricao: 'demais' }, randomUUID());
    expectOneApplicationAndReplays(answers, 422);
    expect(JSON.parse(answers[0]!.bytes.toString()).erro).toBe('limite_excedido');
    expect(await rowsOf(2, 'demais')).toHaveLength(0);
    expect(await database.balance(2)).toBe(before);
  });

  it.each([
    ['another valor', { valor: 2, tipo: 'c', descricao: 'reuso' }],
    ['another tipo', { valor: 1, tipo: 'd', descricao: 'reuso' }],
    ['another descricao', { valor: 1, tipo: 'c', descricao: 'outra' }],
  ])('the same key with %s is refused with 422 and moves nothing', async (_, other) => {
    const key = randomUUID();
    expect((await postWithKey(stack.baseUrl, 3, { valor: 1, tipo: 'c', descricao: 'reuso' }, key)).status).toBe(200);
    const before = { balance: await database.balance(3), rows: await database.transactionCount(3) };
    const refused = await postWithKey(stack.baseUrl, 3, other, key);
    expect(refused.status).toBe(422);
    expect(refused.replayed).toBe(false);
    expect(JSON.parse(refused.bytes.toString()).erro).toBe('chave_idempotencia_reutilizada');
    expect({ balance: await database.balance(3), rows: await database.transactionCount(3) }).toEqual(before);
  });

  it('the same key on two clients is two keys', async () => {
    const key = randomUUID();
    const first = await postWithKey(stack.baseUrl, 4, { valor: 3, tipo: 'c', descricao: 'dois' }, key);
    const second = await postWithKey(stack.baseUrl, 5, { valor: 3, tipo: 'c', descricao: 'dois' }, key);
    expect([first.status, first.replayed, second.status, second.replayed]).toEqual([200, false, 200, false]);
    expect(await rowsOf(4, 'dois')).toHaveLength(1);
    expect(await rowsOf(5, 'dois')).toHaveLength(1);
  });

  it.each([
    ['256 characters', 'k'.repeat(256)],
    ['a space', 'chave com espaco'],
    ['a tab', 'chave\tcom'],
    ['a character outside ASCII inside', 'ch\u00e9ve'],
    // regression: uWebSockets.js trims bytes above 0x7F from both ends of a
    // header value, so these arrived as the valid keys "chav" and "chave"
    // and were applied; nginx now marks them invalid before they reach it.
    ['a character outside ASCII at the end', 'chav\u00e9'],
    ['a character outside ASCII at the start', '\u00e9chave'],
  ])('a key with %s is refused with 422 before anything moves', async (_, key) => {
    const before = await database.transactionCount(3);
    const answer = await postWithKey(stack.baseUrl, 3, { valor: 1, tipo: 'c', descricao: 'ruim' }, key);
    expect(answer.status).toBe(422);
    expect(JSON.parse(answer.bytes.toString()).erro).toBe('chave_idempotencia_invalida');
    expect(await database.transactionCount(3)).toBe(before);
  });

  it('a key of 255 visible characters is accepted, and without a key a request is applied each time', async () => {
    expect(
      (await postWithKey(stack.baseUrl, 3, { valor: 1, tipo: 'c', descricao: 'longa' }, '~'.repeat(255))).status,
    ).toBe(200);
    for (let index = 0; index < 2; index++)
      expect((await postTransaction(stack.baseUrl, 3, { valor: 1, tipo: 'c', descricao: 'semchave' })).status).toBe(
        200,
      );
    expect(await rowsOf(3, 'semchave')).toHaveLength(2);
  });
});

describe('retries after a failure', () => {
  it('a request whose client left after sending it is applied once; the retry replays its outcome', async () => {
    const key = randomUUID();
    const payload = JSON.stringify({ valor: 11, tipo: 'c', descricao: 'cortada' });
    // A lock on transacoes, held from outside, keeps the request inside the
    // database until the client has gone.
    const blocker = await holdTransactionInserts(database.adminUrl);
    const socket = net.connect(stack.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(
      `POST /clientes/4/transacoes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Idempotency-Key: ${key}\r\nContent-Length: ${payload.length}\r\n\r\n${payload}`,
    );
    await waitForOrThrow(
      'the request waiting on the table lock',
      async () =>
        (
          await database.query(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%registrar_transac%'",
          )
        ).length > 0,
      RECOVERY,
    );
    socket.destroy();
    await blocker.release();
    await waitUntilIdle(stack.state().instances.map((instance) => instance.listen));

    const rows = await rowsOf(4, 'cortada');
    expect(rows).toHaveLength(1);
    const retry = await postWithKey(stack.baseUrl, 4, { valor: 11, tipo: 'c', descricao: 'cortada' }, key);
    expect(retry.status).toBe(200);
    expect(retry.replayed).toBe(true);
    expect(JSON.parse(retry.bytes.toString())).toEqual({ limite: 10_000_000, saldo: Number(rows[0]!.saldo_apos) });
    expect(await rowsOf(4, 'cortada')).toHaveLength(1);
  });

  it('after both instances are killed and restarted, a retry replays the first answer byte for byte', async () => {
    const key = randomUUID();
    const first = await postWithKey(stack.baseUrl, 5, { valor: 13, tipo: 'd', descricao: 'reinicio' }, key);
    expect(first.status).toBe(200);
    const before = stack.state().instances;
    for (const instance of before) process.kill(instance.pid!, 'SIGKILL');
    await waitForOrThrow(
      'both instances restarted and serving',
      async () =>
        stack
          .state()
          .instances.every((instance, index) => instance.pid !== undefined && instance.pid !== before[index]!.pid) &&
        (await allInstancesServe(stack.dataDirectory)),
      RECOVERY,
    );

    const retry = await postWithKey(stack.baseUrl, 5, { valor: 13, tipo: 'd', descricao: 'reinicio' }, key);
    expect([retry.status, retry.replayed]).toEqual([200, true]);
    expect(retry.bytes.equals(first.bytes)).toBe(true);
    expect(await rowsOf(5, 'reinicio')).toHaveLength(1);
  });

  it('after PostgreSQL crashes and restarts, a retry replays the first answer byte for byte', async () => {
    const key = randomUUID();
    const first = await postWithKey(stack.baseUrl, 5, { valor: 17, tipo: 'd', descricao: 'queda' }, key);
    expect(first.status).toBe(200);
    const postgres = stack.state().postgres!;
    // The test's own pool would see its idle connections die.
    await database.close();
    // Immediate shutdown: no checkpoint; the restart replays the WAL.
    process.kill(postgres.pid, 'SIGQUIT');
    await waitForOrThrow(
      'PostgreSQL restarted and both instances serving',
      async () => stack.state().postgres?.pid !== postgres.pid && (await allInstancesServe(stack.dataDirectory)),
      RECOVERY,
    );
    database = openDatabase(stack.state().databaseUrl);

    const retry = await postWithKey(stack.baseUrl, 5, { valor: 17, tipo: 'd', descricao: 'queda' }, key);
    expect([retry.status, retry.replayed]).toEqual([200, true]);
    expect(retry.bytes.equals(first.bytes)).toBe(true);
    expect(await rowsOf(5, 'queda')).toHaveLength(1);
  });
});
