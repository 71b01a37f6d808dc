// Owns the limits of crebito's own API beyond the public contract (which
// shared/contract.ts holds): the idempotency key and history pages. The
// validation, the error messages and the OpenAPI document all read them
// here; sql/01-schema.sql repeats the key's rule as a CHECK, held to it by
// test/database/sql-facts.test.ts.

/** An Idempotency-Key is 1 to this many visible ASCII characters (0x21-0x7E). */
export const IDEMPOTENCY_KEY_CHARACTERS_MAX = 255;

/** A history page holds 1 to this many transactions, and this many when limit is not given. */
export const HISTORY_PAGE_ROWS_MAX = 100;
export const HISTORY_PAGE_ROWS_DEFAULT = 20;

/** The name of the request header that carries an idempotency key, and of the response header that marks a replay. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
