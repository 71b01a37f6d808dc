// Owns bringing the change stream back once its replication slot is lost
// (docs/events.md, "When the slot is lost"): the way Debezium's snapshot
// does it. A new logical slot is created with an exported snapshot, so that
// every commit is either visible in that snapshot or decoded from the slot,
// never neither; the ledger's rows from a start point on are read in that
// snapshot and published (same message as the publisher's, message id = the
// row's id) with confirms, in id order, which is each client's history order;
// only then does the slot take the stream's name, and the publisher, which
// retries every few seconds, streams from it. Rows the consumers already had
// come again and their dedupe drops them; none is skipped.
//
// Until that last step nothing changes: the lost slot stays as it was, and
// the new one is temporary (it goes with this command's connection), so a
// run refused, failed or killed before it leaves the stream as it found it;
// one that fails within it leaves no slot, which the publisher reports lost
// as well, and the next run recovers from there the same way. Run by an
// operator with a role that has REPLICATION (the superuser's, as the
// publisher uses), never the instances': crebito_api can neither make a
// slot nor read every column of transacoes.

import amqp, { type ConfirmChannel } from 'amqplib';
import pg from 'pg';
import { EXCHANGE_NAME, PUBLISHED_TABLE, STREAM_NAME } from './config.js';
import {
  eventOf,
  messagePropertiesOf,
  routingKeyOf,
  type RelationColumn,
  type TransactionEvent,
} from './publisher/message.js';

/** Temporary, and one at a time: a second recovery finds the name taken and stops. */
export const RECOVERY_SLOT = `${STREAM_NAME}_recovery`;
export const RECOVER_ROWS_MAX_DEFAULT = 1_000_000;
export const RECOVER_ROWS_MAX_LIMIT = 20_000_000;
const BATCH_ROWS = 1000;
// The publisher holds the lost slot for an instant at each of its retries.
const DROP_ATTEMPTS_MAX = 50;
const DROP_RETRY_DELAY_MS = 100;
const BROKER_TIMEOUT_MS = 10_000;
const BROKER_HEARTBEAT_S = 5;

export type RecoverStart = { kind: 'all' } | { kind: 'since'; at: Date } | { kind: 'from-id'; id: number };

export interface RecoverOptions {
  /** A role with REPLICATION that reads transacoes and chaves_api: the superuser's, as the publisher's. */
  databaseUrl: string;
  brokerUrl: string;
  start: RecoverStart;
  /** Refuse, publishing nothing, when more rows than this are to be sent. */
  rowsMax: number;
  log: (line: string) => void;
}

export interface RecoverResult {
  /** The first id sent (every row from it on); null when there was none to send. */
  fromId: number | null;
  rows: number;
  /** Where the new slot begins: commits before it were in the snapshot, commits after it the publisher streams. */
  consistentPoint: string;
  /** Rows the broker returned because no queue was bound for them. */
  unroutable: number;
}

/** A recovery that stopped before changing anything, for a reason the operator can act on. */
export class RecoveryRefused extends Error {
  override name = 'RecoveryRefused';
}

// Every value as PostgreSQL's text, as pgoutput sends it to the publisher,
// in the same session settings, so eventOf makes the very same message.
const TEXT_VALUES = { getTypeParser: () => (text: string) => text };
const SESSION = { options: '-c DateStyle=ISO -c TimeZone=UTC', types: TEXT_VALUES };

export async function recoverStream(options: RecoverOptions): Promise<RecoverResult> {
  const admin = new pg.Client({ connectionString: options.databaseUrl, application_name: 'crebito-events-recover' });
  const replication = new pg.Client({
    connectionString: options.databaseUrl,
    replication: 'database',
    application_name: 'crebito-events-recover',
  } as pg.ClientConfig);
  const reader = new pg.Client({ connectionString: options.databaseUrl, ...SESSION });
  try {
    await admin.connect();
    await checkNeedsRecovery(admin);
    await Promise.all([replication.connect(), reader.connect()]);
    const consistentPoint = await openSnapshot(replication, reader);
    options.log(`a new slot begins at ${consistentPoint}; reading the ledger as it was committed there`);
    const sent = await sendSnapshotRows(reader, options);
    await reader.query('COMMIT');
    await installSlot(admin, consistentPoint);
    return { ...sent, consistentPoint };
  } finally {
    // Ending the replication connection drops the temporary slot.
    await Promise.allSettled([reader.end(), replication.end(), admin.end()]);
  }
}

/** The stream was set up (publication) and its slot is lost or missing; anything else is no case for this. */
async function checkNeedsRecovery(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ wal_level: string; replication: boolean; publication: boolean }>(
    `SELECT current_setting('wal_level') AS wal_level,
            (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS replication,
            EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1) AS publication`,
    [STREAM_NAME],
  );
  const facts = rows[0]!;
  if (!facts.replication)
    throw new RecoveryRefused(
      'this role cannot make a replication slot: run it as a role with REPLICATION (the superuser)',
    );
  if (facts.wal_level !== 'logical') throw new RecoveryRefused(`the database runs with wal_level=${facts.wal_level}`);
  if (!facts.publication)
    throw new RecoveryRefused('the stream was never set up here (no publication): start the publisher instead');
  const status = await slotStatus(admin, STREAM_NAME);
  if (status !== 'missing' && status !== 'lost')
    throw new RecoveryRefused(`the slot is not lost (${status}): the publisher resumes from it by itself`);
}

async function slotStatus(client: pg.Client, name: string): Promise<string> {
  const { rows } = await client.query<{ wal_status: string | null; restart_lsn: string | null }>(
    'SELECT wal_status, restart_lsn FROM pg_replication_slots WHERE slot_name = $1',
    [name],
  );
  if (rows[0] === undefined) return 'missing';
  // An invalidated slot keeps no WAL, whatever its wal_status says.
  return rows[0].restart_lsn === null ? 'lost' : (rows[0].wal_status ?? 'unknown');
}

/**
 * The temporary slot, made with an exported snapshot, and that snapshot
 * taken by the reader's transaction: it shows exactly the commits before
 * the slot's consistent point, and the slot decodes exactly those after it.
 */
async function openSnapshot(replication: pg.Client, reader: pg.Client): Promise<string> {
  const created = await replication
    .query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${RECOVERY_SLOT} TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')`,
    )
    .catch((error: Error) => {
      if (/already exists/.test(error.message))
        throw new RecoveryRefused(`another recovery is running (its slot ${RECOVERY_SLOT} exists)`);
      throw error;
    });
  const { consistent_point: consistentPoint, snapshot_name: snapshot } = created.rows[0]!;
  await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  // The snapshot is valid only until the replication connection's next command; it has none.
  await reader.query(`SET TRANSACTION SNAPSHOT ${reader.escapeLiteral(snapshot)}`);
  return consistentPoint;
}

/** The first id to send: every row from it on, in the snapshot. */
async function firstId(reader: pg.Client, start: RecoverStart): Promise<number | null> {
  if (start.kind === 'from-id') return start.id;
  // --since: the lowest id committed at or after that time; sending every id
  // from there is a superset of those rows, and per client a whole suffix of
  // its history, so no consumer sees a later row of a client before an earlier one.
  const { rows } = await reader.query<{ first: string | null }>(
    start.kind === 'all'
      ? `SELECT min(id) AS first FROM ${PUBLISHED_TABLE}`
      : `SELECT min(id) AS first FROM ${PUBLISHED_TABLE} WHERE realizada_em >= $1`,
    start.kind === 'all' ? [] : [start.at.toISOString()],
  );
  return rows[0]!.first === null ? null : Number(rows[0]!.first);
}

async function sendSnapshotRows(
  reader: pg.Client,
  options: RecoverOptions,
): Promise<{ fromId: number | null; rows: number; unroutable: number }> {
  const fromId = await firstId(reader, options.start);
  const count = fromId === null ? 0 : await countFrom(reader, fromId);
  if (count > options.rowsMax)
    throw new RecoveryRefused(
      `${count} rows from id ${fromId} on, more than the limit of ${options.rowsMax}: give a later --since or ` +
        `--from-id (a little before the stream stopped), or a higher --limit; nothing was sent`,
    );
  if (fromId === null || count === 0) {
    options.log('no rows to send from that start');
    return { fromId, rows: 0, unroutable: 0 };
  }
  options.log(`sending ${count} rows from id ${fromId} on, in batches of ${BATCH_ROWS}`);
  const broker = await connectBroker(options.brokerUrl);
  try {
    const rows = await publishFrom(reader, broker.channel, fromId, options.log);
    return { fromId, rows, unroutable: broker.unroutable() };
  } finally {
    await broker.close();
  }
}

async function countFrom(reader: pg.Client, fromId: number): Promise<number> {
  const { rows } = await reader.query<{ count: string }>(
    `SELECT count(*) AS count FROM ${PUBLISHED_TABLE} WHERE id >= $1`,
    [fromId],
  );
  return Number(rows[0]!.count);
}

async function connectBroker(
  url: string,
): Promise<{ channel: ConfirmChannel; unroutable: () => number; close: () => Promise<void> }> {
  // A frozen broker accepts the TCP connection and then says nothing; once
  // connected, heartbeats notice it and its pending confirms fail.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the broker did not answer within ${BROKER_TIMEOUT_MS} ms`)),
      BROKER_TIMEOUT_MS,
    );
  });
  const separator = url.includes('?') ? '&' : '?';
  const withHeartbeat = /[?&]heartbeat=/.test(url) ? url : `${url}${separator}heartbeat=${BROKER_HEARTBEAT_S}`;
  const connection = await Promise.race([amqp.connect(withHeartbeat), timeout]).finally(() => clearTimeout(timer));
  // A broken connection fails the pending confirms, which is how it is noticed.
  connection.on('error', () => undefined);
  const channel = await connection.createConfirmChannel();
  channel.on('error', () => undefined);
  await channel.assertExchange(EXCHANGE_NAME, 'topic', { durable: true });
  let unroutable = 0;
  channel.on('return', () => unroutable++);
  return { channel, unroutable: () => unroutable, close: () => connection.close().catch(() => undefined) };
}

/** The columns pgoutput sends for the table, in its order: every stored one but generated columns. */
async function publishedColumns(reader: pg.Client): Promise<string[]> {
  const { rows } = await reader.query<{ attname: string }>(
    `SELECT attname FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
      ORDER BY attnum`,
    [PUBLISHED_TABLE],
  );
  return rows.map((row) => row.attname);
}

/** Every row from fromId on, a batch at a time, each batch confirmed by the broker before the next is read. */
async function publishFrom(
  reader: pg.Client,
  channel: ConfirmChannel,
  fromId: number,
  log: (line: string) => void,
): Promise<number> {
  const columns = (await publishedColumns(reader)).map((name) => reader.escapeIdentifier(name)).join(', ');
  let next = fromId;
  let sent = 0;
  for (;;) {
    const batch = await reader.query<Record<string, string | null>>(
      `SELECT ${columns} FROM ${PUBLISHED_TABLE} WHERE id >= $1 ORDER BY id LIMIT ${BATCH_ROWS}`,
      [next],
    );
    if (batch.rows.length === 0) return sent;
    const events = await eventsOf(reader, batch);
    for (const event of events) await publishOne(channel, event);
    await channel.waitForConfirms();
    sent += events.length;
    next = events.at(-1)!.id + 1;
    if (sent % (BATCH_ROWS * 50) === 0) log(`${sent} rows sent and confirmed, up to id ${next - 1}`);
  }
}

async function eventsOf(reader: pg.Client, batch: pg.QueryResult<Record<string, string | null>>) {
  const columns: RelationColumn[] = batch.fields.map((field) => ({
    name: field.name,
    typeName: null,
    typeOid: field.dataTypeID,
  }));
  const keyIds = [...new Set(batch.rows.flatMap((row) => (row.chave_api_id ? [row.chave_api_id] : [])))];
  const names = new Map<string, string>();
  if (keyIds.length > 0) {
    const keys = await reader.query<{ id: string; nome: string }>(
      'SELECT id, nome FROM chaves_api WHERE id = ANY($1::integer[])',
      [keyIds],
    );
    for (const key of keys.rows) names.set(key.id, key.nome);
  }
  return batch.rows.map((row) => eventOf(columns, row, (id) => names.get(String(id)) ?? null));
}

async function publishOne(channel: ConfirmChannel, event: TransactionEvent): Promise<void> {
  const body = Buffer.from(JSON.stringify(event));
  const room = channel.publish(EXCHANGE_NAME, routingKeyOf(event), body, messagePropertiesOf(event));
  if (!room) await new Promise((resolve) => channel.once('drain', resolve));
}

/**
 * The lost slot (if any) dropped, and the temporary one copied under the
 * stream's name, where it begins: at the consistent point, not one commit
 * later. The publisher creates no slot of its own once the stream was set
 * up, so between the two steps the name stays free for this copy.
 */
async function installSlot(admin: pg.Client, consistentPoint: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const status = await slotStatus(admin, STREAM_NAME);
    if (status === 'missing') break;
    if (status !== 'lost') throw new RecoveryRefused(`the slot came back meanwhile (${status}): nothing was changed`);
    try {
      await admin.query('SELECT pg_drop_replication_slot($1)', [STREAM_NAME]);
      break;
    } catch (error) {
      // 55006: in use, by the publisher's retry at that instant.
      if ((error as { code?: string }).code !== '55006' || attempt >= DROP_ATTEMPTS_MAX) throw error;
      await new Promise((resolve) => setTimeout(resolve, DROP_RETRY_DELAY_MS));
    }
  }
  await admin.query('SELECT pg_copy_logical_replication_slot($1, $2, false)', [RECOVERY_SLOT, STREAM_NAME]);
  const { rows } = await admin.query<{ confirmed: string }>(
    'SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1',
    [STREAM_NAME],
  );
  if (rows[0]?.confirmed !== consistentPoint)
    throw new Error(`the new slot begins at ${rows[0]?.confirmed}, not at the snapshot's ${consistentPoint}`);
}

export const RECOVER_USAGE =
  'usage: npm run events -- recover [--since <ISO time> | --from-id N] [--limit ROWS]' +
  ' (default: every row the ledger holds, at most 1000000)';

/** `recover`'s options, checked: a time with its zone, a whole id, a limit within bounds. */
export function parseRecoverArguments(args: string[]): { start: RecoverStart; rowsMax: number } {
  let start: RecoverStart = { kind: 'all' };
  let rowsMax = RECOVER_ROWS_MAX_DEFAULT;
  for (let index = 0; index < args.length; index += 2) {
    const [flag, value] = [args[index], args[index + 1]];
    if (!['--since', '--from-id', '--limit'].includes(flag!))
      throw new RecoveryRefused(`unknown option ${flag}; ${RECOVER_USAGE}`);
    if (value === undefined) throw new RecoveryRefused(`${flag} needs a value; ${RECOVER_USAGE}`);
    if (start.kind !== 'all' && (flag === '--since' || flag === '--from-id'))
      throw new RecoveryRefused(`give one start point, --since or --from-id; ${RECOVER_USAGE}`);
    if (flag === '--since') start = { kind: 'since', at: parseInstant(value) };
    else if (flag === '--from-id') start = { kind: 'from-id', id: wholeNumber(flag, value, Number.MAX_SAFE_INTEGER) };
    else rowsMax = wholeNumber(flag!, value, RECOVER_ROWS_MAX_LIMIT);
  }
  return { start, rowsMax };
}

function wholeNumber(flag: string, text: string, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > max)
    throw new RecoveryRefused(`${flag} must be a whole number from 1 to ${max}`);
  return value;
}

/** An ISO 8601 time with its zone (Z or ±hh:mm): a time without one means a different instant on each machine. */
function parseInstant(text: string): Date {
  const at = new Date(text);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/.test(text) || Number.isNaN(at.getTime()))
    throw new RecoveryRefused(`--since must be an ISO time with its zone, such as 2026-12-06T05:00:00Z; got ${text}`);
  return at;
}

/**
 * The command: exits 0 once the stream is back, 2 when refused (nothing
 * changed), 1 when it failed (run it again). The URLs are read only once
 * the options are known to be good.
 */
export async function runRecoverCommand(
  args: string[],
  urls: { databaseUrl: () => string; brokerUrl: () => string },
): Promise<number> {
  const log = (line: string) => console.error(`[events recover] ${line}`);
  try {
    const options = parseRecoverArguments(args);
    const result = await recoverStream({
      ...options,
      databaseUrl: urls.databaseUrl(),
      brokerUrl: urls.brokerUrl(),
      log,
    });
    log(
      `done: ${result.rows} rows sent and confirmed (from id ${result.fromId ?? '-'}, ${result.unroutable} returned ` +
        `unroutable); the slot is back at ${result.consistentPoint}, and the publisher streams from there`,
    );
    return 0;
  } catch (error) {
    log((error as Error).message);
    return error instanceof RecoveryRefused ? 2 : 1;
  }
}
