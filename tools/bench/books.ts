// The bench's check of the books after its load: the money adds up. (The
// ledger checker, tools/ledger-check, is the thorough one; this is the cheap
// check that a benchmark did not buy its speed with wrong answers.)

import pg from 'pg';
import type { BenchReport } from './report/report.js';

/** Every client's balance equals the sum of its transactions and stays within its limit. */
export async function checkBooks(databaseUrl: string): Promise<BenchReport['consistency']> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: number; limite: number; saldo: string; soma: string }>(`
      SELECT c.id, c.limite, c.saldo,
             coalesce((SELECT sum(CASE t.tipo WHEN 'c' THEN t.valor ELSE -t.valor END)
                         FROM transacoes t WHERE t.cliente_id = c.id), 0) AS soma
        FROM clientes c ORDER BY c.id`);
    const details: string[] = [];
    for (const row of rows) {
      if (Number(row.saldo) !== Number(row.soma))
        details.push(`client ${row.id}: saldo ${row.saldo} but transactions sum to ${row.soma}`);
      if (Number(row.saldo) < -row.limite)
        details.push(`client ${row.id}: saldo ${row.saldo} below -limite ${row.limite}`);
    }
    return { clients: rows.length, inconsistencies: details.length, details };
  } finally {
    await client.end();
  }
}
