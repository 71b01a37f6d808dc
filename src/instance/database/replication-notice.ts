// Owns the one sign PostgreSQL gives that a commit it reports as successful
// may exist on one host only. When a commit's wait for synchronous
// replication is cancelled (pg_cancel_backend, an operator, a failover tool),
// the server ends the wait, keeps the commit it already made locally, and
// answers success with a WARNING, which node-postgres delivers only as a
// `notice` event on the connection, beside a normal result. A ledger that
// promised "a 200 means the commit is on two hosts" must not turn that into
// a 200: the call fails here as unavailable (503, may have been applied).

import type pg from 'pg';

// PostgreSQL 15-18 say, for a cancelled and for a terminated wait alike:
// message "canceling wait for synchronous replication due to user request"
// (or "canceling the wait for synchronous replication and terminating
// connection due to administrator command"), with this detail.
const UNREPLICATED_DETAIL_PREFIX = 'The transaction has already committed locally, but might not have been replicated';
const UNREPLICATED_MESSAGE_PATTERN = /^canceling (the )?wait for synchronous replication/;

export function isUnreplicatedCommitNotice(notice: { message?: string; detail?: string }): boolean {
  return (
    UNREPLICATED_MESSAGE_PATTERN.test(notice.message ?? '') ||
    (notice.detail ?? '').startsWith(UNREPLICATED_DETAIL_PREFIX)
  );
}

/** A call that committed on the primary whose replication PostgreSQL could not confirm. */
export class UnreplicatedCommit extends Error {
  constructor() {
    super(
      'the commit was applied on the primary, but its wait for synchronous replication was cancelled: it may exist on this host only',
    );
  }
}

/**
 * pg.Pool#query, watching the connection's notices while the query runs:
 * rejects with UnreplicatedCommit when the server said so. As in
 * pg.Pool#query, a connection that fails under its query (an 'error' event
 * on the checked-out client, or a failed query) is released as broken,
 * exactly once.
 */
export async function queryWatchingReplication<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  config: pg.QueryConfig & { rowMode: 'array' },
): Promise<pg.QueryResult<R>> {
  const client = await pool.connect();
  let unreplicated = false;
  let released = false;
  const onNotice = (notice: { message?: string; detail?: string }) => {
    if (isUnreplicatedCommitNotice(notice)) unreplicated = true;
  };
  let onError: (error: Error) => void = () => undefined;
  const release = (error?: Error) => {
    if (released) return false;
    released = true;
    client.off('notice', onNotice);
    client.off('error', onError);
    client.release(error);
    return true;
  };
  const failed = new Promise<never>((_, reject) => {
    onError = (error) => {
      if (release(error)) reject(error);
    };
  });
  client.on('notice', onNotice);
  client.on('error', onError);
  let result: pg.QueryResult<R>;
  try {
    result = await Promise.race([client.query<R>(config), failed]);
  } catch (error) {
    release(error as Error);
    throw error;
  }
  release();
  if (unreplicated) throw new UnreplicatedCommit();
  return result;
}
