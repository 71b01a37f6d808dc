// The change stream's verdict (docs/events.md): what the checker's consumer
// received, judged against the ledger's rows. After dedupe by message id,
// every row the ledger holds since the stream was first read appears exactly
// once, with the same content; nothing appears that the ledger does not
// hold; per client, the stream's order is the history's (id) order; and how
// long a row took from its commit to the consumer.

import pg from 'pg';
import type { Delivery } from '../events/recorder.js';

export interface LedgerRow {
  id: number;
  cliente_id: number;
  valor: number;
  tipo: string;
  descricao: string;
  realizada_em: string;
  saldo_apos: number;
}

export interface StreamVerdict {
  holds: boolean;
  ledgerRows: number;
  deliveries: number;
  /** Deliveries of an id already received (at least once: allowed, consumers drop them). */
  duplicates: number;
  /** Ledger rows never received. */
  missing: number[];
  /** Received ids the ledger does not hold, or whose content differs from the ledger's row. */
  invented: number[];
  /** Clients whose stream order differs from their history's. */
  outOfOrderClients: number[];
  /** Acknowledged to a client (201) and never received. */
  acknowledgedMissing: number[];
  lagMs: { p50: number; p99: number; max: number };
}

const FIELDS = ['cliente_id', 'valor', 'tipo', 'descricao', 'realizada_em', 'saldo_apos'] as const;

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

function appendTo(lists: Map<number, number[]>, key: number, value: number): void {
  const list = lists.get(key);
  if (list === undefined) lists.set(key, [value]);
  else list.push(value);
}

/** Every transacoes row above lastId, and the older rows named in alsoIds, in id order, as the stream carries them. */
export async function readLedgerRows(
  databaseUrl: string,
  lastId: number,
  alsoIds: number[] = [],
): Promise<LedgerRow[]> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'crebito-ledger-check' });
  await client.connect();
  try {
    const { rows } = await client.query<LedgerRow & { id: string; saldo_apos: string }>(
      `SELECT id, cliente_id, valor, tipo, descricao, iso_utc(realizada_em) AS realizada_em, saldo_apos
         FROM transacoes WHERE id > $1 OR id = ANY($2::bigint[]) ORDER BY id`,
      [lastId, alsoIds.filter((id) => id <= lastId)],
    );
    return rows.map((row) => ({ ...row, id: Number(row.id), saldo_apos: Number(row.saldo_apos) }));
  } finally {
    await client.end();
  }
}

/**
 * ledger: every row the stream may carry, in id order: each above since must
 * appear; one at or below it (from before the consumer's queue existed) may,
 * and is then held to the same content. acknowledged: the ids clients were told about.
 */
export function judgeStream(
  deliveries: Delivery[],
  ledger: LedgerRow[],
  acknowledged: number[],
  since = 0,
): StreamVerdict {
  const rows = new Map(ledger.map((row) => [row.id, row]));
  const first = new Map<number, Delivery>();
  const invented: number[] = [];
  const streamOrder = new Map<number, number[]>();
  for (const delivery of deliveries) {
    const { event } = delivery;
    if (first.has(event.id)) continue;
    first.set(event.id, delivery);
    const row = rows.get(event.id);
    if (row === undefined || FIELDS.some((field) => row[field] !== event[field])) invented.push(event.id);
    appendTo(streamOrder, event.cliente_id, event.id);
  }
  const historyOrder = new Map<number, number[]>();
  for (const row of ledger) appendTo(historyOrder, row.cliente_id, row.id);
  const outOfOrderClients = [...streamOrder]
    .filter(([client, ids]) => {
      const history = (historyOrder.get(client) ?? []).filter((id) => first.has(id));
      return ids.filter((id) => rows.has(id)).join() !== history.join();
    })
    .map(([client]) => client);
  const missing = ledger.filter((row) => row.id > since && !first.has(row.id)).map((row) => row.id);
  const lags = [...first.values()]
    .flatMap((delivery) => {
      const row = rows.get(delivery.event.id);
      return row === undefined || row.id <= since
        ? []
        : [Math.max(0, delivery.receivedAtMs - Date.parse(row.realizada_em))];
    })
    .sort((a, b) => a - b);
  const acknowledgedMissing = acknowledged.filter((id) => !first.has(id));
  return {
    holds:
      missing.length === 0 &&
      invented.length === 0 &&
      outOfOrderClients.length === 0 &&
      acknowledgedMissing.length === 0,
    ledgerRows: ledger.filter((row) => row.id > since).length,
    deliveries: deliveries.length,
    duplicates: deliveries.length - first.size,
    missing,
    invented,
    outOfOrderClients,
    acknowledgedMissing,
    lagMs: { p50: percentile(lags, 0.5), p99: percentile(lags, 0.99), max: lags.at(-1) ?? 0 },
  };
}
