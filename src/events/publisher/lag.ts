// Owns how far behind the stream is, read from PostgreSQL so that it holds
// whether or not the publisher is streaming: the WAL between the server's
// current position and the slot's confirmed one (bytes), the WAL the slot
// makes the server keep, and whether the slot is still whole (wal_status;
// 'lost' once max_slot_wal_keep_size was exceeded). While the stream is not
// running, the slot is free to be read without being consumed (peek): how
// many rows wait and when the oldest of them committed.

import type pg from 'pg';
import { STREAM_NAME } from '../config.js';

// A peek decodes the WAL it reads; past this many changes it stops counting
// and reports "at least".
export const PEEK_CHANGES_MAX = 100_000;
// 2000-01-01 in microseconds since the epoch: pgoutput's timestamps count from there.
const POSTGRES_EPOCH_US = 946_684_800_000_000n;

export interface SlotFacts {
  exists: boolean;
  /** Not yet confirmed by the publisher: WAL bytes since the slot's confirmed position. */
  behindBytes: number;
  /** The WAL the slot holds back from removal. */
  retainedBytes: number;
  /** reserved, extended, unreserved, lost (PostgreSQL's pg_replication_slots.wal_status). */
  walStatus: string | null;
  /** Bytes left before the slot would be lost; null without a bound. */
  safeBytes: number | null;
}

export async function readSlotFacts(database: pg.Pool): Promise<SlotFacts> {
  const { rows } = await database.query<{
    behind: string | null;
    retained: string | null;
    wal_status: string | null;
    safe: string | null;
  }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS behind,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS retained,
            wal_status, safe_wal_size::text AS safe
       FROM pg_replication_slots WHERE slot_name = $1`,
    [STREAM_NAME],
  );
  const row = rows[0];
  if (row === undefined) return { exists: false, behindBytes: 0, retainedBytes: 0, walStatus: null, safeBytes: null };
  return {
    exists: true,
    behindBytes: Number(row.behind ?? 0),
    retainedBytes: Number(row.retained ?? 0),
    walStatus: row.wal_status,
    safeBytes: row.safe === null ? null : Number(row.safe),
  };
}

/** Rows waiting in the slot (at most PEEK_CHANGES_MAX) and when the oldest waiting commit committed; only while nobody streams from it. */
export async function peekWaiting(database: pg.Pool): Promise<{ rows: number; oldestCommitMs: number | null }> {
  // pgoutput's messages: 'B' (66) begins a commit (its timestamp at bytes 10-17), 'I' (73) is an insert.
  const { rows } = await database.query<{ inserts: string; oldest: Buffer | null }>(
    `SELECT count(*) FILTER (WHERE get_byte(data, 0) = 73) AS inserts,
            (array_agg(substr(data, 10, 8) ORDER BY lsn) FILTER (WHERE get_byte(data, 0) = 66))[1] AS oldest
       FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, 'proto_version', '1', 'publication_names', $3)`,
    [STREAM_NAME, PEEK_CHANGES_MAX, STREAM_NAME],
  );
  const row = rows[0]!;
  const oldest = row.oldest === null ? null : Number((row.oldest.readBigInt64BE(0) + POSTGRES_EPOCH_US) / 1000n);
  return { rows: Number(row.inserts), oldestCommitMs: oldest };
}
