// Owns the facts of the public contract (../shared/CONTRACT.md) that more
// than one place relies on: the instance validates and reads by them, the
// ledger checker judges by them. The SQL functions take the statement size as
// a parameter rather than writing it down again.

/** The most recent transactions a statement (extrato) lists. */
export const EXTRATO_TRANSACTIONS_MAX = 10;

/** A descricao holds 1 to this many Unicode characters (code points, as PostgreSQL's char_length counts). */
export const DESCRICAO_CHARACTERS_MAX = 10;

/**
 * The largest value a PostgreSQL `integer` column holds. Both `valor` and the
 * client id are such columns, so both are bounded by it.
 */
export const INTEGER_COLUMN_MAX = 2_147_483_647;
export const VALOR_MAX = INTEGER_COLUMN_MAX;
export const CLIENT_ID_MAX = INTEGER_COLUMN_MAX;
