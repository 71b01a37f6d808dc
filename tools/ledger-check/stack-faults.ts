// Faults of the checker that hit one part of the stack and must stay there:
// nginx's master killed with SIGKILL (the launcher must stop its
// orphaned worker and start nginx again), and readers of one client's large
// history with selective filters (every other client must not notice). The
// large history is seeded before the run, so that the invariants see its
// rows as the books the run began with.

import pg from 'pg';
import { readStackState } from '../../src/stack/state.js';
import { upstreamTimeoutMs } from '../../src/stack/nginx.js';
import { SETTINGS } from '../../src/shared/settings.js';
import type { FaultContext, FaultRecord } from './fault-record.js';
import { probe, recoveryMs } from './probes.js';

/**
 * How long a request sent to a failed or frozen instance may take before
 * nginx gives up on it: the instances' deadline and nginx's margin. Requests
 * sent sooner are the fault's own; later ones must not notice it.
 */
export const INSTANCE_NOTICED_MS = upstreamTimeoutMs(SETTINGS.requestTimeoutMs.default);

export const HEAVY_CLIENT_ID = 5;
export const HEAVY_READERS = 4;
export const HEAVY_READ_MS = 4_000;
// Bounded, so a run stays short: enough that a filter which walks the whole
// history costs a visible fraction of a second.
export const HEAVY_HISTORY_ROWS = 200_000;
// Selective on purpose: no stored amount matches, so an unbounded page walks every row.
const HEAVY_QUERY = `/clientes/${HEAVY_CLIENT_ID}/transacoes?valor_min=2000000000&limit=1`;
const HEAVY_REQUEST_TIMEOUT_MS = 5_000;
const SEED_DESCRICAO = 'historico';

/**
 * Gives the heavy reader's client HEAVY_HISTORY_ROWS rows, once per database:
 * pairs of a 1-cent credit and debit, each with the balance after it, so the
 * client's balance is the same before and after. Under the client's row lock,
 * as the service's own writes are.
 */
export async function seedLargeHistory(databaseUrl: string, log: (line: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'crebito-ledger-check-seed' });
  await client.connect();
  try {
    await client.query('BEGIN');
    const { saldo } = (
      await client.query<{ saldo: string }>('SELECT saldo FROM clientes WHERE id = $1 FOR UPDATE', [HEAVY_CLIENT_ID])
    ).rows[0]!;
    const have = Number(
      (
        await client.query<{ n: string }>('SELECT count(*) AS n FROM transacoes WHERE cliente_id = $1', [
          HEAVY_CLIENT_ID,
        ])
      ).rows[0]!.n,
    );
    const pairs = Math.max(0, Math.ceil((HEAVY_HISTORY_ROWS - have) / 2));
    if (pairs > 0) {
      log(`seeding ${pairs * 2} history rows for client ${HEAVY_CLIENT_ID} (the heavy reader's)`);
      await client.query(
        `INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos)
        SELECT $1, 1, CASE WHEN n % 2 = 0 THEN 'c' ELSE 'd' END, $2, $3::bigint + CASE WHEN n % 2 = 0 THEN 1 ELSE 0 END
          FROM generate_series(0, $4::int - 1) AS n ORDER BY n`,
        [HEAVY_CLIENT_ID, SEED_DESCRICAO, saldo, pairs * 2],
      );
    }
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

/** nginx's master killed with SIGKILL: its worker is orphaned on the public port. */
export async function killNginx(context: FaultContext): Promise<FaultRecord> {
  const { nginx } = readStackState(context.dataDirectory);
  const atMs = context.elapsed();
  const window = { name: 'kill-nginx', startMs: atMs, endMs: atMs, scope: { kind: 'all' as const }, graceMs: 0 };
  if (nginx === null || nginx.pid === undefined)
    return { name: 'kill-nginx', atMs, detail: 'skipped: the stack runs without nginx', recoveryMs: null, window };
  process.kill(nginx.pid, 'SIGKILL');
  context.log(`fault: SIGKILL nginx's master (pid ${nginx.pid})`);
  const recovery = await recoveryMs(async () => {
    const now = readStackState(context.dataDirectory).nginx?.pid;
    return now !== undefined && now !== nginx.pid && (await probe(`127.0.0.1:${context.port}`, '/clientes/2/extrato'));
  });
  return {
    name: 'kill-nginx',
    atMs,
    detail: `SIGKILL nginx's master (pid ${nginx.pid}); the launcher stops its orphaned worker and starts nginx again`,
    recoveryMs: recovery,
    window: { ...window, endMs: context.elapsed() },
  };
}

/** HEAVY_READERS loops asking for a page no row matches, for HEAVY_READ_MS: what each answer was. */
export async function heavyReader(context: FaultContext): Promise<FaultRecord> {
  const atMs = context.elapsed();
  context.log(`fault: ${HEAVY_READERS} readers of ${HEAVY_QUERY} for ${HEAVY_READ_MS} ms`);
  const statuses = new Map<number, number>();
  let worstMs = 0;
  const deadline = performance.now() + HEAVY_READ_MS;
  const reader = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const status = await fetch(`http://127.0.0.1:${context.port}${HEAVY_QUERY}`, {
        signal: AbortSignal.timeout(HEAVY_REQUEST_TIMEOUT_MS),
      }).then(
        async (response) => (await response.arrayBuffer(), response.status),
        () => 0,
      );
      worstMs = Math.max(worstMs, performance.now() - started);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: HEAVY_READERS }, reader));
  const endMs = context.elapsed();
  const answers = [...statuses]
    .map(([status, count]) => `${count} × ${status === 0 ? 'no answer' : status}`)
    .join(', ');
  return {
    name: 'heavy-reader',
    atMs,
    detail:
      `${HEAVY_READERS} readers of client ${HEAVY_CLIENT_ID}'s ${HEAVY_HISTORY_ROWS}-row history ` +
      `(${HEAVY_QUERY}): ${answers}; the slowest took ${worstMs.toFixed(0)} ms`,
    recoveryMs: 0,
    window: {
      name: 'heavy-reader',
      startMs: atMs,
      endMs,
      scope: { kind: 'client', clientId: HEAVY_CLIENT_ID },
      graceMs: 0,
    },
  };
}
