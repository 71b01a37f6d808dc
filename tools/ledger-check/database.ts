// What the checker reads from the database itself: the books when the run
// begins, and everything the invariants are judged against when it ends.

import pg from 'pg';
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
  const { rows } = await client.query<{ id: number; limite: number; saldo: string }>('SELECT id, limite, saldo FROM clientes WHERE id = ANY($1) ORDER BY id', [clientIds]);
  const lastId = Number((await client.query<{ last: string | null }>('SELECT max(id) AS last FROM transacoes')).rows[0]!.last ?? 0);
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

/** The final balances and every stored transaction of the clients, beside the books from before the run. */
export function readDatabaseState(databaseUrl: string, clientIds: number[], initial: Books): Promise<DatabaseState> {
  return withClient(databaseUrl, async (client) => {
    const final = await readBooksWith(client, clientIds);
    const { rows } = await client.query<{ id: string; cliente_id: number; valor: number; tipo: 'c' | 'd'; descricao: string; realizada_em: string }>(
      `SELECT id, cliente_id, valor, tipo, descricao,
              to_char(realizada_em AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS realizada_em
         FROM transacoes WHERE cliente_id = ANY($1) ORDER BY id`, [clientIds]);
    return {
      limits: initial.limits,
      initialBalances: initial.balances,
      initialLastId: initial.lastId,
      finalBalances: final.balances,
      transactions: rows.map((row) => ({ id: Number(row.id), clientId: row.cliente_id, valor: row.valor, tipo: row.tipo, descricao: row.descricao, realizada_em: row.realizada_em })),
    };
  });
}
