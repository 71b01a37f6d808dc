// Owns removing idempotency keys older than the retention, in the
// background: a pass every so often deletes them in small batches
// (expirar_chaves, sql/05-idempotency.sql) over the one pooled connection
// reserved for it (shared/limits.ts, RESERVED_CONNECTIONS), so it never
// waits for a request's connection nor makes a request wait for one, and
// nothing on a request's path ever runs it. Both instances run it; the SQL
// lets them without waiting on each other.
//
// It keeps up with whatever arrives: a pass deletes until a batch comes back
// short (nothing past the retention is left) or its time is up, and a pass
// that ran out of time is followed by another at once, so the passes repeat
// as often as the keys that arrived require. Passes of a fixed size
// (20 x 1000 per minute) once removed at most ~667 keys/s for both
// instances, and keyed traffic above that grew the table without bound.

import { QueryFailure, type Database } from '../database/pool.js';
import { crashOnBug } from '../../shared/invariant.js';
import type { Log } from '../../shared/log.js';
import type { PreparedQuery } from './operation.js';

/** Keys deleted by one statement: a short transaction (and a short lock on each row), whatever the backlog. */
const IDEMPOTENCY_EXPIRY_BATCH_ROWS = 1000;
/** Longest a pass goes on deleting: the expiry shares the database's CPU with requests, and yields it this often. */
const IDEMPOTENCY_EXPIRY_PASS_MS_MAX = 1000;
/** Pause before the next pass when the last one ran out of time with keys left to remove. */
const IDEMPOTENCY_EXPIRY_CATCH_UP_PAUSE_MS = 50;
/** Passes come this often at most, and as often as the retention when it is shorter. */
const IDEMPOTENCY_EXPIRY_INTERVAL_MS_MAX = 60_000;

// The retention is the owner's (sql/01-schema.sql, configuracao): the
// instance only says when, and how many at most. Warmed with a batch of 0:
// nothing is removed.
export const IDEMPOTENCY_EXPIRY_QUERY: PreparedQuery = {
  name: 'expirar_chaves',
  text: 'SELECT expirar_chaves($1)',
  functions: ['expirar_chaves'],
  warmUp: [0],
};

export interface IdempotencyExpiry {
  /** Keys this instance removed so far. */
  readonly removed: number;
  /** Passes that ended with keys left past the retention (each followed by another at once). */
  readonly passesBehind: number;
  /** Stops the passes, waiting for one in progress. */
  stop(): Promise<void>;
}

/** What a pass did: whether it removed every key past the retention it could see, and how many it removed. */
interface PassOutcome {
  caughtUp: boolean;
  removed: number;
}

export function startIdempotencyExpiry(
  database: Database,
  options: { retentionS: number; log: Log },
): IdempotencyExpiry {
  const intervalMs = Math.min(IDEMPOTENCY_EXPIRY_INTERVAL_MS_MAX, options.retentionS * 1000);
  const counts = { removed: 0, passesBehind: 0 };
  let stopped = false;
  let behind = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function pass(): Promise<PassOutcome> {
    const endsMs = performance.now() + IDEMPOTENCY_EXPIRY_PASS_MS_MAX;
    let removed = 0;
    while (!stopped) {
      const rows = await database.query(IDEMPOTENCY_EXPIRY_QUERY.name, IDEMPOTENCY_EXPIRY_QUERY.text, [
        IDEMPOTENCY_EXPIRY_BATCH_ROWS,
      ]);
      // The database is down or refused: the keys wait for the next pass, a
      // whole interval away (counted as caught up, so as not to press a
      // failing database with passes at once).
      if (rows instanceof QueryFailure) return { caughtUp: true, removed };
      const count = rows[0]![0] as number;
      removed += count;
      counts.removed += count;
      if (count < IDEMPOTENCY_EXPIRY_BATCH_ROWS) return { caughtUp: true, removed };
      if (performance.now() >= endsMs) return { caughtUp: false, removed };
    }
    return { caughtUp: true, removed };
  }

  function schedule(delayMs: number): void {
    timer = setTimeout(() => {
      running = pass()
        .then((outcome) => {
          // Told once per stretch behind, not once a pass.
          if (!outcome.caughtUp && !behind)
            options.log.warn(
              { removed: outcome.removed, passMsMax: IDEMPOTENCY_EXPIRY_PASS_MS_MAX },
              'idempotency keys arrive faster than one pass removes them; passes now follow each other at once',
            );
          if (outcome.caughtUp && behind) options.log.info('idempotency key expiry caught up');
          if (!outcome.caughtUp) counts.passesBehind++;
          behind = !outcome.caughtUp;
          if (!stopped) schedule(outcome.caughtUp ? intervalMs : IDEMPOTENCY_EXPIRY_CATCH_UP_PAUSE_MS);
        })
        .catch(crashOnBug);
    }, delayMs);
    // A pending pass must not keep a stopping instance alive.
    timer.unref();
  }
  schedule(intervalMs);

  return {
    get removed() {
      return counts.removed;
    },
    get passesBehind() {
      return counts.passesBehind;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
