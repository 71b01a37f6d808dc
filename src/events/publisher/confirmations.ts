// Owns the rule that makes the stream at-least-once: the replication slot's
// confirmed position moves past a commit only once the broker has confirmed
// every message of that commit and of every commit before it. Commits are
// received in commit order; their messages are published as they arrive and
// confirmed by the broker in any grouping; this keeps the commits still owed
// a confirmation, oldest first, and says how far the slot may now advance.

import { invariant } from '../../shared/invariant.js';

interface OpenCommit {
  /** Where the commit record ends: the slot may be confirmed up to here once it is done. */
  endLsn: bigint;
  /** When it committed (ms since the epoch), for the stream's lag in seconds. */
  committedAtMs: number;
  unconfirmed: number;
  messages: number;
  /** The last of its messages has been published (its commit message was read). */
  closed: boolean;
}

export class Confirmations {
  private readonly open: OpenCommit[] = [];
  private current: OpenCommit | undefined;
  /** How far the slot may be confirmed: everything before it is in the broker. */
  confirmedLsn = 0n;
  published = 0;
  confirmed = 0;
  /** Returned by the broker: no queue was bound for its routing key. */
  unroutable = 0;

  /** onReleased hears each commit once all of it is in the broker, with when it committed. */
  constructor(private readonly onReleased: (committedAtMs: number, messages: number) => void = () => undefined) {}

  /** A commit's first message (pgoutput's Begin). */
  begin(committedAtMs: number): void {
    invariant(this.current === undefined, 'a transaction began inside another');
    this.current = { endLsn: 0n, committedAtMs, unconfirmed: 0, messages: 0, closed: false };
    this.open.push(this.current);
  }

  /** A message of the current commit was handed to the broker; call the returned function once the broker confirmed it. */
  publishing(): () => void {
    const commit = this.current;
    invariant(commit !== undefined, 'a row outside a transaction');
    commit.unconfirmed++;
    commit.messages++;
    this.published++;
    return () => {
      invariant(commit.unconfirmed > 0, 'a message confirmed twice');
      commit.unconfirmed--;
      this.confirmed++;
      this.release();
    };
  }

  /** The commit's last message (pgoutput's Commit), with where its record ends. */
  commit(endLsn: bigint): void {
    const commit = this.current;
    invariant(commit !== undefined, 'a commit without a begin');
    commit.endLsn = endLsn;
    commit.closed = true;
    this.current = undefined;
    this.release();
  }

  /** Nothing received is waiting for the broker, and no transaction is half read. */
  get idle(): boolean {
    return this.open.length === 0;
  }

  /** Messages handed to the broker and not yet confirmed. */
  get inFlight(): number {
    return this.published - this.confirmed;
  }

  /** When the oldest commit not yet wholly confirmed committed; undefined when none is owed. */
  get oldestOwedAtMs(): number | undefined {
    return this.open[0]?.committedAtMs;
  }

  /** A keepalive at lsn while idle: nothing before it is owed, so the slot may move there. */
  caughtUpTo(lsn: bigint): void {
    if (this.idle && lsn > this.confirmedLsn) this.confirmedLsn = lsn;
  }

  private release(): void {
    while (this.open.length > 0 && this.open[0]!.closed && this.open[0]!.unconfirmed === 0) {
      const done = this.open.shift()!;
      invariant(done.endLsn >= this.confirmedLsn, 'commits released out of order');
      this.confirmedLsn = done.endLsn;
      if (done.messages > 0) this.onReleased(done.committedAtMs, done.messages);
    }
  }
}
