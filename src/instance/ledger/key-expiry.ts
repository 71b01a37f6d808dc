// Owns removing idempotency keys older than the retention, in the
// background: a pass every so often deletes them in small batches
// (expirar_chaves, sql/05-idempotency.sql) over the one pooled connection
// reserved for it (shared/limits.ts, RESERVED_CONNECTIONS), so it never
// waits for a request's connection nor makes a request wait for one, and
// nothing on a request's path ever runs it. Both instances run it; the SQL
// lets them without waiting on each other.

import { QueryFailure, type Database } from '../database/pool.js';
import { crashOnBug } from '../../shared/invariant.js';

/** Keys deleted by one statement: a short transaction, whatever the backlog. */
const KEY_EXPIRY_BATCH_ROWS = 1000;
/** Batches per pass; a larger backlog waits for the next pass. */
const KEY_EXPIRY_BATCHES_PER_PASS_MAX = 20;
/** Passes come this often at most, and as often as the retention when it is shorter. */
const KEY_EXPIRY_INTERVAL_MS_MAX = 60_000;

export const QUERY = { name: 'expirar_chaves', text: 'SELECT expirar_chaves($1, $2)' };

export interface KeyExpiry {
  /** Keys this instance removed so far. */
  readonly removed: number;
  /** Stops the passes, waiting for one in progress. */
  stop(): Promise<void>;
}

export function startKeyExpiry(database: Database, options: { retentionS: number }): KeyExpiry {
  const intervalMs = Math.min(KEY_EXPIRY_INTERVAL_MS_MAX, options.retentionS * 1000);
  let removed = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function pass(): Promise<void> {
    for (let batch = 0; batch < KEY_EXPIRY_BATCHES_PER_PASS_MAX && !stopped; batch++) {
      const rows = await database.query(QUERY.name, QUERY.text, [options.retentionS, KEY_EXPIRY_BATCH_ROWS]);
      // The database is down or refused: the keys wait for the next pass.
      if (rows instanceof QueryFailure) return;
      const count = rows[0]![0] as number;
      removed += count;
      if (count < KEY_EXPIRY_BATCH_ROWS) return;
    }
  }

  function schedule(): void {
    timer = setTimeout(() => {
      running = pass().catch(crashOnBug).finally(() => {
        if (!stopped) schedule();
      });
    }, intervalMs);
    // A pending pass must not keep a stopping instance alive.
    timer.unref();
  }
  schedule();

  return {
    get removed() {
      return removed;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
