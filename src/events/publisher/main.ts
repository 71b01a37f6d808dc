// The change stream's publisher (docs/events.md): makes sure the publication
// and the replication slot exist, then streams every committed transacoes row
// to the broker (session.ts), starting a new run from the slot's confirmed
// position whenever the broker or the database fails. Serves /health (how far
// behind, in rows, bytes and seconds) and /metrics on its admin address, and
// tells the launcher that address over IPC once it serves.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createLog } from '../../shared/log.js';
import { parseListenTarget } from '../../shared/listen.js';
import { PUBLISHED_TABLE, STREAM_NAME } from '../config.js';
import { isLocalWalSender, parsePlacement, place, placementText } from '../cpu.js';
import { Confirmations } from './confirmations.js';
import { KeyNames } from './key-names.js';
import { peekWaiting, readSlotFacts, type SlotFacts } from './lag.js';
import { PublisherMetrics } from './metrics.js';
import { runSession } from './session.js';

const RETRY_DELAY_MS_MIN = 250;
const RETRY_DELAY_MS_MAX = 5000;
// A run that lasted this long was healthy: the next failure retries quickly again.
const HEALTHY_RUN_MS = 10_000;
const LAG_POLL_INTERVAL_MS = 1000;

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

const log = createLog({
  program: 'stack',
  name: 'events',
  level: (process.env.CREBITO_LOG_LEVEL as 'info' | undefined) ?? 'info',
});
const databaseUrl = required('CREBITO_EVENTS_DATABASE_URL');
const brokerUrl = required('CREBITO_EVENTS_URL');
const adminListen = parseListenTarget(process.env.CREBITO_EVENTS_ADMIN_LISTEN ?? '127.0.0.1:0');
const database = new pg.Pool({ connectionString: databaseUrl, max: 2, application_name: 'crebito-events-lag' });
database.on('error', () => undefined);

// Where the launcher put this process on the CPU (its argument); its WAL sender goes there too (cpu.ts).
const cpuPlacement = parsePlacement(process.argv[2]);
const metrics = new PublisherMetrics();
let confirmations = new Confirmations();
let streaming = false;
let lastError: string | null = null;
let slot: SlotFacts = { exists: false, behindBytes: 0, retainedBytes: 0, walStatus: null, safeBytes: null };
let waiting: { rows: number; oldestCommitMs: number | null } | null = null;
// Until the slot was first read, its absence means nothing yet.
let slotRead = false;

const SLOT_LOST_ADVICE =
  'the stream cannot resume by itself; `npm run events -- recover` brings it back (docs/events.md, "When the slot is lost")';

/**
 * The publication (inserts on transacoes only) and the slot, created once;
 * the stream begins where the slot does. Once only: a slot missing after
 * that is reported lost, and brought back by src/events/recover.ts. Under
 * Patroni the slot may exist first (a permanent slot, made at the cluster's
 * bootstrap): decoding from before the publication existed fails
 * ("publication does not exist") for ever, so a slot found when the
 * publication is new is moved to now. Nothing is skipped: the publication
 * did not exist, so no row was meant for it yet.
 */
async function ensurePublicationAndSlot(): Promise<void> {
  const { rows } = await database.query<{ wal_level: string }>("SELECT current_setting('wal_level') AS wal_level");
  if (rows[0]!.wal_level !== 'logical')
    throw new Error(
      `the database runs with wal_level=${rows[0]!.wal_level}; the change stream needs wal_level=logical`,
    );
  const created =
    (await database.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [STREAM_NAME])).rowCount === 0;
  if (created)
    await database.query(`CREATE PUBLICATION ${STREAM_NAME} FOR TABLE ${PUBLISHED_TABLE} WITH (publish = 'insert')`);
  const slot = await database.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [STREAM_NAME]);
  if (slot.rowCount === 0 && !created) {
    // A slot made now would begin now: every row since the old one stopped would be skipped, silently.
    log.error(`the replication slot is missing: ${SLOT_LOST_ADVICE}`);
  } else if (slot.rowCount === 0) {
    await database.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [STREAM_NAME]);
  } else if (created) {
    await database.query('SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())', [STREAM_NAME]);
    log.warn(
      "the replication slot existed before the publication (a permanent slot of Patroni's): moved it to now, where the stream begins",
    );
  }
}

/** Invalidated past max_slot_wal_keep_size, or gone: either way the stream cannot resume by itself. */
function slotLost(): boolean {
  return slotRead && (!slot.exists || slot.walStatus === 'lost');
}

/** Rows, bytes and seconds the broker does not hold yet. */
function behind(): { messages: number | null; bytes: number; seconds: number | null } {
  if (streaming) {
    const oldest = confirmations.oldestOwedAtMs;
    return {
      messages: confirmations.published - confirmations.confirmed,
      bytes: slot.behindBytes,
      seconds: oldest === undefined ? 0 : (Date.now() - oldest) / 1000,
    };
  }
  if (waiting === null) return { messages: null, bytes: slot.behindBytes, seconds: null };
  const seconds = waiting.oldestCommitMs === null ? 0 : (Date.now() - waiting.oldestCommitMs) / 1000;
  return { messages: waiting.rows, bytes: slot.behindBytes, seconds };
}

function health(): { status: number; body: object } {
  const lost = slotLost();
  const state = lost ? 'slot-lost' : streaming ? 'streaming' : 'not-streaming';
  return {
    status: state === 'streaming' ? 200 : 503,
    body: {
      state,
      behind: behind(),
      retainedWalBytes: slot.retainedBytes,
      walStatus: slot.walStatus,
      safeWalBytes: slot.safeBytes,
      published: metrics.published,
      confirmed: metrics.confirmed,
      unroutable: metrics.unroutable,
      cpu: placementText(cpuPlacement),
      lastError,
    },
  };
}

/** Each run's replication connection has a new WAL sender, which decodes for the stream: it yields as the stream does. */
async function placeWalSender(): Promise<void> {
  if (cpuPlacement.kind === 'none') return;
  const { rows } = await database.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_replication WHERE application_name = 'crebito-events'",
  );
  for (const { pid } of rows)
    if (isLocalWalSender(pid) && !place(pid, cpuPlacement, false))
      log.warn(`the WAL sender ${pid} runs at the ledger's CPU priority: its placement was refused`);
}

async function pollLag(): Promise<void> {
  try {
    slot = await readSlotFacts(database);
    slotRead = true;
    waiting = streaming || !slot.exists || slot.walStatus === 'lost' ? null : await peekWaiting(database);
  } catch (error) {
    lastError = `reading the slot: ${(error as Error).message}`;
  }
  metrics.observeHealth(slot, behind(), streaming, slotLost());
  if (slotLost())
    log.error(`the replication slot was lost (max_slot_wal_keep_size exceeded, or dropped): ${SLOT_LOST_ADVICE}`);
}

async function streamForever(): Promise<never> {
  let delayMs = RETRY_DELAY_MS_MIN;
  const keys = new KeyNames(database);
  for (;;) {
    const startedAt = performance.now();
    confirmations = new Confirmations((committedAtMs, messages) => metrics.released(committedAtMs, messages));
    metrics.sessionStarted(confirmations);
    try {
      await runSession({
        databaseUrl,
        brokerUrl,
        keys,
        log,
        confirmations,
        onStreaming: () => {
          streaming = true;
          placeWalSender().catch((error: Error) => log.warn(`placing the WAL sender: ${error.message}`));
        },
      });
    } catch (error) {
      lastError = (error as Error).message;
      log.warn(`the stream stopped (${lastError}); starting again from the slot's confirmed position`);
    } finally {
      streaming = false;
      metrics.sessionEnded(confirmations);
    }
    if (performance.now() - startedAt > HEALTHY_RUN_MS) delayMs = RETRY_DELAY_MS_MIN;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, RETRY_DELAY_MS_MAX);
  }
}

function serveAdmin(): Promise<string> {
  const server = http.createServer((request, response) => {
    if (request.url === '/health') {
      const { status, body } = health();
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else if (request.url === '/metrics') {
      void metrics.render().then((text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(text));
    } else {
      response.writeHead(404).end();
    }
  });
  if (adminListen.kind !== 'tcp') throw new Error('CREBITO_EVENTS_ADMIN_LISTEN must be host:port');
  return new Promise((resolve) =>
    server.listen(adminListen.port, adminListen.host, () => {
      resolve(`${adminListen.host}:${(server.address() as AddressInfo).port}`);
    }),
  );
}

async function main(): Promise<void> {
  await ensurePublicationAndSlot();
  const admin = await serveAdmin();
  setInterval(() => void pollLag(), LAG_POLL_INTERVAL_MS).unref();
  void pollLag();
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  // The launcher's IPC channel closes when it dies: a publisher must not outlive it.
  process.on('disconnect', () => process.exit(0));
  log.info(`publisher serving /health and /metrics on ${admin}`);
  process.send?.({ type: 'ready', admin });
  await streamForever();
}

main().catch((error: unknown) => {
  log.error(`the publisher cannot start: ${(error as Error).message}`);
  process.exit(1);
});
