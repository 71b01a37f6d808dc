// Regression: cold stack said up. The instances opened their pool
// connections, prepared their statements and had PostgreSQL compile the
// PL/pgSQL functions lazily, under the first requests: paced at the public
// test's rate, a stack that had just said `up` answered dozens of requests in
// 50-127 ms, the same stack once warm none over 41 ms. Ready now
// means warm: the whole pool open, and every connection through its warm-up
// (ledger/warm-up.ts) before it takes a request; after a PostgreSQL restart
// the same holds before /ready says yes again.
//
// Checked from PostgreSQL's side, not only from the instance's word: each
// instance's connections are counted in pg_stat_activity by their
// application_name, and each one's last statement must be the last of the
// warm-up calls (they run in order on each connection, each only after the
// one before succeeded), which nothing else sends to an idle stack but the
// key expiry (itself only on a connection already warmed).

import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/shared/settings.js';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { warmUpCalls } from '../../src/instance/ledger/warm-up.js';
import {
  freePort,
  getFromListenAddress,
  makeDataDirectory,
  startStack,
  type RunningStack,
} from '../../tools/harness/stack.js';
import { API_OPERATIONS } from '../../src/instance/operations/index.js';
import { LEAN_STACK } from '../support/lean-stack.js';

const RECOVERY_TIMEOUT_MS = 30_000;
const POOL_CLIENTS_MAX = SETTINGS.poolClientsMax.default;
const LAST_WARM_UP_TEXT = warmUpCalls(API_OPERATIONS).at(-1)!.text;

let stack: RunningStack | undefined;
afterAll(async () => {
  await stack?.dispose();
});

interface Backend {
  application_name: string;
  state: string;
  query: string;
}

async function backendsOf(databaseUrl: string, instanceName: string): Promise<Backend[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query<Backend>(
      'SELECT application_name, state, query FROM pg_stat_activity WHERE application_name = $1',
      [`crebito-${instanceName}`],
    );
    return result.rows;
  } finally {
    await client.end();
  }
}

async function poolOf(admin: string): Promise<{ totalCount: number; warmCount: number }> {
  const answer = await getFromListenAddress(admin, '/health', 5000);
  expect(answer?.status).toBe(200);
  return (JSON.parse(answer!.body) as { ledger: { pool: { totalCount: number; warmCount: number } } }).ledger.pool;
}

/** Every connection of every instance open, and through its warm-up, by PostgreSQL's account and the instance's. */
async function expectWholePoolsWarm(current: RunningStack): Promise<void> {
  const state = current.state();
  for (const instance of state.instances) {
    const backends = await backendsOf(state.databaseUrl, instance.name);
    expect(backends).toHaveLength(POOL_CLIENTS_MAX);
    for (const backend of backends)
      expect({ state: backend.state, query: backend.query }).toEqual({ state: 'idle', query: LAST_WARM_UP_TEXT });
    expect(await poolOf(instance.admin!)).toMatchObject({ totalCount: POOL_CLIENTS_MAX, warmCount: POOL_CLIENTS_MAX });
  }
}

const readyStatus = async (admin: string) => (await getFromListenAddress(admin, '/ready', 2000))?.status;

describe('regression: cold stack said up', () => {
  it('says up only once every pool connection is open and warm, and after a PostgreSQL restart says ready again only once it is so again', async () => {
    stack = await startStack({ port: await freePort(), dataDirectory: makeDataDirectory(), environment: LEAN_STACK });
    await expectWholePoolsWarm(stack);

    const before = stack.state();
    process.kill(before.postgres!.pid, 'SIGQUIT');
    await waitForOrThrow(
      'the launcher restarting PostgreSQL',
      () => stack!.state().postgres?.pid !== before.postgres!.pid,
      { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: 50 },
    );
    // The instances must notice the restart before the check means anything.
    for (const instance of before.instances) {
      await waitForOrThrow(
        `${instance.name} saying not ready`,
        async () => (await readyStatus(instance.admin!)) === 503,
        { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: 20 },
      );
    }
    for (const instance of before.instances) {
      await waitForOrThrow(`${instance.name} ready again`, async () => (await readyStatus(instance.admin!)) === 200, {
        timeoutMs: RECOVERY_TIMEOUT_MS,
        intervalMs: 20,
      });
    }
    await expectWholePoolsWarm(stack);
  });

  // Regression: the refill took idle connections. Filling checked out as
  // many connections as were missing; with others idle, the pool handed
  // those out instead of opening new ones, and an instance that lost one
  // connection of four stayed a connection short (and not ready) for good.
  it('opens and warms again a single connection lost while the others sit idle', async () => {
    const current = stack!;
    const [first] = current.state().instances;
    const client = new pg.Client({ connectionString: current.state().databaseUrl });
    await client.connect();
    try {
      const terminated = await client.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 LIMIT 1',
        [`crebito-${first!.name}`],
      );
      expect(terminated.rowCount).toBe(1);
    } finally {
      await client.end();
    }
    await waitForOrThrow(
      `${first!.name} whole and warm again`,
      async () =>
        (await poolOf(first!.admin!)).warmCount === POOL_CLIENTS_MAX &&
        (await backendsOf(current.state().databaseUrl, first!.name)).length === POOL_CLIENTS_MAX,
      { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: 50 },
    );
    // Ready follows the pool by up to one readiness probe (a call that failed on the lost connection may still be
    // the last one the ledger saw): wait for it within the same bound rather than read it the same instant.
    await waitForOrThrow(`${first!.name} ready again`, async () => (await readyStatus(first!.admin!)) === 200, {
      timeoutMs: RECOVERY_TIMEOUT_MS,
      intervalMs: 20,
    });
    await expectWholePoolsWarm(current);
  });
});
