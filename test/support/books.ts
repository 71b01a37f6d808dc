// The books' invariants, read straight from the tables: what must hold after
// any call any caller makes, valid or not. Used by the tests that call the
// ledger's functions as an attacker would (test/database/).

import type { TestDatabase } from './database.js';

/**
 * Every way the books are wrong, one line each; empty when they are exact:
 * each balance is the sum of its client's rows, each row's saldo_apos is the
 * running sum of its client's rows up to it (every client starts at 0), no
 * balance nor saldo_apos is below -limite, every row's client exists,
 * every row credited to an API key names a key that exists, and every
 * transfer is whole (sql/09-transfers.sql).
 */
export async function booksProblems(database: Pick<TestDatabase, 'query'>): Promise<string[]> {
  const rows = await database.query<{ problem: string }>(`
    WITH passos AS (
        SELECT t.id, t.cliente_id, t.saldo_apos,
               sum(novo_saldo(0, t.valor, t.tipo)) OVER (PARTITION BY t.cliente_id ORDER BY t.id) AS corrido
          FROM transacoes t)
    SELECT format('row %s of client %s: saldo_apos %s, its rows sum to %s', id, cliente_id, saldo_apos, corrido)
           AS problem
      FROM passos WHERE saldo_apos <> corrido
    UNION ALL
    SELECT format('client %s: balance %s, its rows sum to %s', c.id, c.saldo, s.total)
      FROM clientes c
     CROSS JOIN LATERAL (SELECT coalesce(sum(novo_saldo(0, t.valor, t.tipo)), 0) AS total
                           FROM transacoes t WHERE t.cliente_id = c.id) s
     WHERE c.saldo <> s.total
    UNION ALL
    SELECT format('client %s: balance %s below -%s', id, saldo, limite) FROM clientes WHERE saldo < -limite
    UNION ALL
    SELECT format('row %s: saldo_apos %s below the limit of client %s', t.id, t.saldo_apos, t.cliente_id)
      FROM transacoes t JOIN clientes c ON c.id = t.cliente_id WHERE t.saldo_apos < -c.limite
    UNION ALL
    SELECT format('row %s: client %s does not exist', t.id, t.cliente_id)
      FROM transacoes t WHERE NOT EXISTS (SELECT FROM clientes c WHERE c.id = t.cliente_id)
    UNION ALL
    SELECT format('row %s: API key %s does not exist', t.id, t.chave_api_id)
      FROM transacoes t
     WHERE t.chave_api_id IS NOT NULL AND NOT EXISTS (SELECT FROM chaves_api k WHERE k.id = t.chave_api_id)
    UNION ALL
    SELECT format('transfer %s: not exactly its payer''s debit and its payee''s credit', f.id)
      FROM transferencias f WHERE NOT transferencia_inteira(f.id)`);
  return rows.map((row) => row.problem);
}
