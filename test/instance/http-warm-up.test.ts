// The instance's own warm-up (src/instance/http-warm-up.ts): before it
// listens, it sends itself requests through its real HTTP server, real
// pg and real PostgreSQL; they must move nothing, count in no metric the
// bench reads, and send no write at all when the client they aim at exists.

import { afterEach, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { countOf, parseTimingPages } from '../../tools/bench/latency/instance-timing.js';
import { CLIENT_ID_MAX } from '../../src/shared/limits.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { request } from '../support/http.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

const WARM_UP_REQUESTS = 400;

let database: TestDatabase | undefined;
let instance: RunningInstance | undefined;

afterEach(async () => {
  await instance?.stop();
  await database?.close();
  instance = database = undefined;
});

interface Books {
  clients: { id: number; saldo: number }[];
  transactions: number;
}

async function books(db: TestDatabase): Promise<Books> {
  const clients = await db.query<{ id: number; saldo: number }>('SELECT id, saldo FROM clientes ORDER BY id');
  return { clients, transactions: await db.transactionCount() };
}

interface WarmUpLine {
  requests: number;
  statuses: Record<string, number>;
  writes: boolean;
}

/**
 * The instance's "HTTP path warm" log line. Regression: readiness comes over IPC, which can overtake the stdout pipe,
 * so the line may be read a moment after start resolved: waited for, bounded.
 */
async function warmUpLine(started: RunningInstance): Promise<WarmUpLine> {
  const find = () =>
    started
      .output()
      .split('\n')
      .find((each) => each.includes('"msg":"HTTP path warm"'));
  await waitForOrThrow('the warm-up log line', async () => find() !== undefined, {
    timeoutMs: 5000,
    intervalMs: 20,
  }).catch(() => undefined);
  const line = find();
  expect(line, started.output()).toBeDefined();
  return JSON.parse(line!) as WarmUpLine;
}

async function start(db: TestDatabase, requests: number): Promise<RunningInstance> {
  return startInstance({ databaseUrl: db.url, environment: { CREBITO_WARM_UP_REQUESTS: String(requests) } });
}

describe('the HTTP warm-up before listening', () => {
  it('sends its requests through the API, moves nothing, and counts none in /timing', async () => {
    database = await createTestDatabase();
    const before = await books(database);
    instance = await start(database, WARM_UP_REQUESTS);
    const warmUp = await warmUpLine(instance);
    expect(warmUp.requests).toBe(WARM_UP_REQUESTS);
    expect(warmUp.writes).toBe(true);
    // Writes to the absent client are 404s, statements of the contract's clients 200s: nothing else.
    expect(Object.keys(warmUp.statuses).sort()).toEqual(['200', '404']);
    expect(warmUp.statuses['404']).toBeGreaterThan(warmUp.statuses['200']!);
    expect(await books(database)).toEqual(before);
    const timing = parseTimingPages([(await request(`http://${instance.admin}`, 'GET', '/timing')).text]);
    for (const route of ['transacoes', 'extrato'])
      expect(countOf(timing.series.get(route)?.get('total') ?? new Map())).toBe(0);
  });

  it('sends statements only when the client its writes aim at exists', async () => {
    database = await createTestDatabase();
    await database.query('INSERT INTO clientes (id, limite, saldo) VALUES ($1, $1, 0)', [CLIENT_ID_MAX]);
    const before = await books(database);
    instance = await start(database, WARM_UP_REQUESTS);
    const warmUp = await warmUpLine(instance);
    expect(warmUp.writes).toBe(false);
    expect(warmUp.statuses).toEqual({ '200': WARM_UP_REQUESTS });
    expect(await books(database)).toEqual(before);
  });

  it('is skipped at 0', async () => {
    database = await createTestDatabase();
    instance = await start(database, 0);
    expect(instance.output()).not.toContain('HTTP path warm');
    expect((await request(instance.baseUrl, 'GET', '/clientes/1/extrato')).status).toBe(200);
  });
});
