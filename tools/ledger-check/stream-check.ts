// The checker's consumer of the change stream (docs/events.md), when the
// stack streams: a queue of its own read from before the load starts, and
// after the run, once the stream has caught up with the ledger (or a bound
// has passed), the stream's verdict over every row written during the run.

import { waitFor } from '../../src/shared/wait.js';
import type { StackState } from '../../src/stack/state.js';
import { StreamRecorder } from '../events/recorder.js';
import type { Operation } from './invariants.js';
import { judgeStream, readLedgerRows, type StreamVerdict } from './stream-verdict.js';

const CATCH_UP_TIMEOUT_MS = 120_000;
const CATCH_UP_POLL_MS = 500;

export class StreamCheck {
  private constructor(private readonly recorder: StreamRecorder) {}

  /**
   * undefined when the stack does not stream. Waits first for the publisher
   * to catch up (the heavy reader's seeded history is a backlog of its own),
   * so the run's lag is the run's.
   */
  static async start(state: StackState, runTag: string): Promise<StreamCheck | undefined> {
    if (state.events === undefined) return undefined;
    const caughtUp = async () => {
      const health = await fetch(`http://${state.events!.publisher.admin}/health`)
        .then((response) => response.json() as Promise<{ behind: { messages: number | null } }>)
        .catch(() => undefined);
      return health?.behind.messages === 0;
    };
    await waitFor(caughtUp, { timeoutMs: CATCH_UP_TIMEOUT_MS * 3, intervalMs: CATCH_UP_POLL_MS });
    const url = process.env.CREBITO_EVENTS_URL || state.events.broker.url;
    const recorder = new StreamRecorder(url, `ledger-check.${runTag}`);
    await recorder.start();
    return new StreamCheck(recorder);
  }

  /**
   * Waits for the stream to hold every row above lastId (within
   * CATCH_UP_TIMEOUT_MS), then judges it. Rows from before the run that
   * arrive too (a backlog, or sent again after a restart) are held to the
   * ledger's content, not counted as missing.
   */
  async finish(databaseUrl: string, lastId: number, operations: Operation[]): Promise<StreamVerdict> {
    const ledger = await readLedgerRows(databaseUrl, lastId);
    const byDescricao = new Map(ledger.map((row) => [row.descricao, row.id]));
    const acknowledged = operations.flatMap((operation) =>
      operation.kind === 'transacao' && operation.outcome === 'applied'
        ? [byDescricao.get(operation.descricao) ?? -1]
        : [],
    );
    await waitFor(() => judgeStream(this.recorder.deliveries, ledger, acknowledged, lastId).missing.length === 0, {
      timeoutMs: CATCH_UP_TIMEOUT_MS,
      intervalMs: CATCH_UP_POLL_MS,
    });
    const older = [
      ...new Set(this.recorder.deliveries.map((delivery) => delivery.event.id).filter((id) => id <= lastId)),
    ];
    const verdict = judgeStream(
      this.recorder.deliveries,
      await readLedgerRows(databaseUrl, lastId, older),
      acknowledged,
      lastId,
    );
    await this.recorder.stop();
    return verdict;
  }
}

export function printStreamVerdict(verdict: StreamVerdict): void {
  const list = (ids: number[]) =>
    ids.length === 0 ? '0' : `${ids.length} (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''})`;
  console.log(
    `change stream: ${verdict.holds ? 'holds' : 'DOES NOT HOLD'}: ${verdict.ledgerRows} ledger rows,` +
      ` ${verdict.deliveries} deliveries (${verdict.duplicates} duplicates, dropped by id)`,
  );
  console.log(
    `  missing ${list(verdict.missing)}; acknowledged and missing ${list(verdict.acknowledgedMissing)};` +
      ` invented or different ${list(verdict.invented)}; clients out of history order ${verdict.outOfOrderClients.length}`,
  );
  console.log(
    `  lag from realizada_em to the consumer: p50 ${verdict.lagMs.p50} ms, p99 ${verdict.lagMs.p99} ms, max ${verdict.lagMs.max} ms`,
  );
}
