// What the checker reads from the database itself: the books when the run
// begins, and everything the invariants are judged against when it ends.

import pg from 'pg';
import { STATEMENT_TRANSACTIONS_MAX } from '../../src/shared/limits.js';
import type { DatabaseState } from './invariants.js';

export interface Books {
  limits: Record<number, number>;
  balances: Record<number, number>;
  /** The highest transacoes.id: rows above it were written after this read. */
  lastId: number;
}

async function withClient<T>(databaseUrl: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'crebito-ledger-check' });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function readBooksWith(client: pg.Client, clientIds: number[]): Promise<Books> {
  const { rows } = await client.query<{ id: number; limite: number; saldo: string }>(
    'SELECT id, limite, saldo FROM clientes WHERE id = ANY($1) ORDER BY id',
    [clientIds],
  );
  const lastId = Number(
    (await client.query<{ last: string | null }>('SELECT max(id) AS last FROM transacoes')).rows[0]!.last ?? 0,
  );
  const limits: Record<number, number> = {};
  const balances: Record<number, number> = {};
  for (const row of rows) {
    limits[row.id] = row.limite;
    balances[row.id] = Number(row.saldo);
  }
  return { limits, balances, lastId };
}

export function readBooks(databaseUrl: string, clientIds: number[]): Promise<Books> {
  return withClient(databaseUrl, (client) => readBooksWith(client, clientIds));
}

/**
 * The final balances and the stored transactions the invariants need, beside
 * the books from before the run: every row written since, and the newest
 * rows from before it that a statement read during the run could still list
 * (a database that has run for a long time holds millions of older ones).
 */
export function readDatabaseState(databaseUrl: string, clientIds: number[], initial: Books): Promise<DatabaseState> {
  return withClient(databaseUrl, async (client) => {
    const final = await readBooksWith(client, clientIds);
    const { rows } = await client.query<{
      id: string;
      cliente_id: number;
      valor: number;
      tipo: 'c' | 'd';
      descricao: string;
      realizada_em: string;
      saldo_apos: string;
      transferencia_id: string | null;
    }>(
      `SELECT t.id, t.cliente_id, t.valor, t.tipo, t.descricao, iso_utc(t.realizada_em) AS realizada_em, t.saldo_apos, t.transferencia_id
         FROM transacoes t WHERE t.cliente_id = ANY($1) AND t.id > $2
       UNION ALL
       SELECT t.id, t.cliente_id, t.valor, t.tipo, t.descricao, iso_utc(t.realizada_em), t.saldo_apos, t.transferencia_id
         FROM unnest($1::integer[]) AS c (id)
         CROSS JOIN LATERAL (SELECT * FROM transacoes tr WHERE tr.cliente_id = c.id AND tr.id <= $2 ORDER BY tr.id DESC LIMIT $3) t
        ORDER BY id`,
      [clientIds, initial.lastId, STATEMENT_TRANSACTIONS_MAX],
    );
    return {
      limits: initial.limits,
      initialBalances: initial.balances,
      initialLastId: initial.lastId,
      finalBalances: final.balances,
      transactions: rows.map((row) => ({
        id: Number(row.id),
        clientId: row.cliente_id,
        valor: row.valor,
        tipo: row.tipo,
        descricao: row.descricao,
        realizada_em: row.realizada_em,
        saldo_apos: Number(row.saldo_apos),
        transferId: row.transferencia_id === null ? null : Number(row.transferencia_id),
      })),
    };
  });
}
