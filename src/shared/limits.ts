// Owns every fixed limit of crebito: the public contract's
// (https://github.com/zanfranceschi/rinha-de-backend-2024-q1), those of
// crebito's own API beyond it, the body cap
// nginx and the instances both enforce, and the connections an instance keeps
// for work beside its requests. Limits an operator may change are settings
// (settings.ts), not these. The instance validates by them, the error
// messages and the API description quote them, the launcher renders them
// into nginx, and the ledger checker judges by them; sql/ repeats a few as
// CHECK constraints, held to these by test/database/sql-facts.test.ts. How they must
// relate is asserted below, where they are declared.

// The public contract.

/** The most recent transactions a statement (extrato) lists. */
export const STATEMENT_TRANSACTIONS_MAX = 10;

/** A descricao holds 1 to this many Unicode characters (code points, as PostgreSQL's char_length counts). */
export const DESCRIPTION_CHARACTERS_MAX = 10;

/**
 * The largest value a PostgreSQL `integer` column holds. Both `valor` and the
 * client id are such columns, so both are bounded by it.
 */
export const INTEGER_COLUMN_MAX = 2_147_483_647;
/** The largest `valor`, an amount in cents. */
export const AMOUNT_MAX = INTEGER_COLUMN_MAX;
export const CLIENT_ID_MAX = INTEGER_COLUMN_MAX;

// crebito's own API, beyond the contract.

/** An Idempotency-Key is 1 to this many visible ASCII characters (0x21-0x7E). */
export const IDEMPOTENCY_KEY_CHARACTERS_MAX = 255;

/** A history page holds 1 to this many transactions (`limit`); without `limit`, HISTORY_PAGE_ROWS_DEFAULT. */
export const HISTORY_PAGE_ROWS_MAX = 100;
export const HISTORY_PAGE_ROWS_DEFAULT = 20;
/**
 * The most of a client's rows one history page reads, matching or not: the
 * bound on a page's cost whatever its filters and the history's length. A
 * page that reaches it ends there with what it found (maybe nothing) and a
 * `next` cursor, so a page may hold fewer than `limit` rows. sql/06-history.sql
 * repeats it (historico_linhas_lidas_max), held to this by a test.
 */
export const HISTORY_SCAN_ROWS_MAX = 1000;

// Both programs: the instance checks each request against it, and the
// launcher renders the same number into nginx's configuration, so nginx
// refuses what an instance would.

/**
 * The largest request body accepted. A valid transaction body is under 100
 * bytes; 4 KiB leaves room for whitespace and unknown extra fields while
 * keeping a hostile client from making us buffer much.
 */
export const BODY_SIZE_BYTES_MAX = 4096;

/**
 * An instance's pooled connections beyond its write and read calls
 * (src/instance/ledger/connections.ts), for work that must never wait for a
 * connection nor make a request wait for one. settings.ts checks the pool
 * holds these and the calls in flight its settings allow.
 */
export const RESERVED_CONNECTIONS = {
  /** The background expiry of idempotency keys. */
  'the idempotency key expiry': 1,
} as const;

/** Connections an instance holds beside its pool with CREBITO_AUTH=keys: the API keys' poll (src/instance/ledger/api-keys.ts). */
export const API_KEYS_POLL_CONNECTIONS = 1;

/**
 * The breaker's probe connection beside the pool (src/instance/database/pool.ts):
 * opened at the first probe and kept between probes, so after the database's
 * first outage every instance holds it.
 */
export const BREAKER_PROBE_CONNECTIONS = 1;

/** The longest body a valid transaction can have: every field at its longest, each descricao character 4 UTF-8 bytes. */
const TRANSACTION_BODY_BYTES_MAX =
  `{"valor":${AMOUNT_MAX},"tipo":"c","descricao":""}`.length + 4 * DESCRIPTION_CHARACTERS_MAX;

assertLimit(
  HISTORY_PAGE_ROWS_DEFAULT >= 1 && HISTORY_PAGE_ROWS_DEFAULT <= HISTORY_PAGE_ROWS_MAX,
  'the default history page must be a page the limit allows',
);
assertLimit(
  HISTORY_SCAN_ROWS_MAX > HISTORY_PAGE_ROWS_MAX,
  'a page must be able to read more rows than it holds, or a full page could never be found',
);
assertLimit(TRANSACTION_BODY_BYTES_MAX <= BODY_SIZE_BYTES_MAX, 'the body cap must hold every valid transaction');
assertLimit(
  Object.values(RESERVED_CONNECTIONS).every((connections) => connections >= 1),
  'each reservation is of a connection at least',
);

function assertLimit(holds: boolean, message: string): void {
  if (!holds) throw new Error(`limits.ts contradicts itself: ${message}`);
}
