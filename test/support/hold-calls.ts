// Holds transaction calls inside the database from outside, for tests that
// need a call in flight: a SHARE lock on transacoes, which every INSERT
// (ROW EXCLUSIVE) waits behind, while reads go on. A client's row lock no
// longer does this: the ledger's functions skip a locked row and answer at
// once (test/instance/one-locked-row.test.ts).

import pg from 'pg';

/** Backends waiting on a lock of a table (their wait_event in pg_stat_activity). */
export const TABLE_LOCK_WAIT_EVENT = 'relation';

export interface HeldCalls {
  /** Ends the hold; once, however often it is called (a finally may call it again). */
  release(): Promise<void>;
}

/** Takes the lock on a connection of its own (the admin URL: the instances' role may not lock tables). */
export async function holdTransactionInserts(adminUrl: string): Promise<HeldCalls> {
  const holder = new pg.Client({ connectionString: adminUrl });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE transacoes IN SHARE MODE');
  let released: Promise<void> | undefined;
  return {
    release() {
      released ??= holder.query('COMMIT').then(() => holder.end());
      return released;
    },
  };
}
