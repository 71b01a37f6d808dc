// A 200 means the commit is on two hosts. PostgreSQL can end a commit's wait
// for synchronous replication without the standby's word: cancelled, it
// answers success plus a WARNING (a `notice` to node-postgres); terminated,
// it drops the connection after committing locally. Either way the
// transaction exists on the primary alone, so its answer must be a 503 that
// says it may have been applied, never a 200. Real PostgreSQL: the stack's
// own server, told to wait for a standby that never connects
// (synchronous_standby_names names nobody), and the waiting backend
// cancelled or terminated from another connection. The request deadline is
// set far past the moment of the cancel, so the 503 cannot come from it.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/shared/wait.js';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../../tools/harness/stack.js';

const REQUEST_TIMEOUT_MS = 8000;
const WAITING_BACKEND_TIMEOUT_MS = 5000;

let stack: RunningStack;
let admin: pg.Client;

beforeAll(async () => {
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: {
      CREBITO_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      CREBITO_QUERY_TIMEOUT_MS: '30000',
      CREBITO_INSTANCES: '1',
    },
  });
  admin = new pg.Client({ connectionString: stack.state().databaseUrl });
  await admin.connect();
  await admin.query("ALTER SYSTEM SET synchronous_standby_names = 'standby_that_never_connects'");
  await admin.query('SELECT pg_reload_conf()');
});

afterAll(async () => {
  await admin?.query('ALTER SYSTEM RESET synchronous_standby_names').catch(() => undefined);
  await admin?.end();
  await stack?.dispose();
});

/** Sends one credit, ends the wait of the backend that commits it with `end`, and returns the answer and the rows left. */
async function creditWhileEndingItsWait(descricao: string, end: 'pg_cancel_backend' | 'pg_terminate_backend') {
  const answer = fetch(`${stack.baseUrl}/clientes/2/transacoes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ valor: 7, tipo: 'c', descricao }),
  });
  let waiting: number | undefined;
  await waitFor(
    async () => {
      const found = await admin.query("SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
      waiting = found.rows[0]?.pid as number | undefined;
      return waiting !== undefined;
    },
    { timeoutMs: WAITING_BACKEND_TIMEOUT_MS, intervalMs: 20 },
  );
  expect(waiting, 'a backend waiting for synchronous replication').toBeDefined();
  await admin.query(`SELECT ${end}($1)`, [waiting]);
  const response = await answer;
  const rows = await admin.query('SELECT count(*)::int AS n FROM transacoes WHERE descricao = $1', [descricao]);
  const text = await response.text();
  return {
    status: response.status,
    body: JSON.parse(text) as Record<string, unknown>,
    rowsLeft: rows.rows[0].n as number,
  };
}

describe('a commit its standby never confirmed', () => {
  it('a cancelled wait for synchronous replication (success plus a WARNING) is a 503 that may have been applied, not a 200', async () => {
    const { status, body, rowsLeft } = await creditWhileEndingItsWait('synccancel', 'pg_cancel_backend');
    expect(rowsLeft).toBe(1);
    expect(status).toBe(503);
    expect(body).toMatchObject({ erro: 'banco_sem_resposta', pode_ter_sido_aplicada: true });
  });

  it('a connection lost around COMMIT (terminated while waiting) is a 503 that may have been applied', async () => {
    const { status, body, rowsLeft } = await creditWhileEndingItsWait('lostcommit', 'pg_terminate_backend');
    expect(rowsLeft).toBe(1);
    expect(status).toBe(503);
    expect(body).toMatchObject({ erro: 'banco_sem_resposta', pode_ter_sido_aplicada: true });
  });
});
