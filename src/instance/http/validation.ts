// Owns the rules for request input: the client id in the URL and the
// transaction body (what counts as valid JSON, the type and range of each
// field). It is pure (bytes in, a value or a Failure out) so the whole table
// of cases is tested without a server.

import { CLIENT_ID_MAX, DESCRICAO_CHARACTERS_MAX, IDEMPOTENCY_KEY_CHARACTERS_MAX, VALOR_MAX } from '../../shared/limits.js';
import type { TransactionRequest } from '../ledger/transactions.js';
import { failures, Failure } from '../../shared/failures.js';

const CLIENT_ID_DIGITS_MAX = String(CLIENT_ID_MAX).length;

// fatal: a body that is not valid UTF-8 is malformed, not silently repaired
// into replacement characters that would be stored as if the client sent them.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Counts Unicode characters (code points) the way PostgreSQL's char_length
 * does, or returns -1 when the string cannot be stored as it is: a lone
 * surrogate has no UTF-8 form, and PostgreSQL text cannot hold U+0000.
 */
export function countStorableCharacters(text: string): number {
  let characters = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit === 0) return -1;
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = index + 1 < text.length ? text.charCodeAt(index + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) return -1;
      index++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return -1;
    }
    characters++;
  }
  return characters;
}

export function parseTransactionBody(body: Uint8Array): TransactionRequest | Failure {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch {
    return failures.malformedJson;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return failures.notAnObject;
  const { valor, tipo, descricao } = value as Record<string, unknown>;

  if (typeof valor !== 'number' || !Number.isInteger(valor) || valor < 1 || valor > VALOR_MAX) {
    return failures.invalidValor;
  }
  if (tipo !== 'c' && tipo !== 'd') return failures.invalidTipo;
  if (typeof descricao !== 'string') return failures.invalidDescricao;
  const characters = countStorableCharacters(descricao);
  if (characters < 1 || characters > DESCRICAO_CHARACTERS_MAX) return failures.invalidDescricao;

  return { valor, tipo, descricao };
}

/** Parses a client id from the URL: canonical decimal digits within the column's range. */
export function parseClientId(text: string): number | undefined {
  if (text.length === 0 || text.length > CLIENT_ID_DIGITS_MAX) return undefined;
  let id = 0;
  for (let index = 0; index < text.length; index++) {
    const digit = text.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) return undefined;
    if (index === 0 && digit === 0) return undefined;
    id = id * 10 + digit;
  }
  return id <= CLIENT_ID_MAX ? id : undefined;
}

const IDEMPOTENCY_KEY = new RegExp(`^[\\x21-\\x7e]{1,${IDEMPOTENCY_KEY_CHARACTERS_MAX}}$`);

/**
 * The Idempotency-Key header's value: undefined when there is none, the key
 * when it is 1 to IDEMPOTENCY_KEY_CHARACTERS_MAX visible ASCII characters,
 * a Failure otherwise. An empty value counts as none: uWebSockets.js reads
 * an absent header as '', and nginx drops a header it forwards empty.
 */
export function parseIdempotencyKey(header: string): string | undefined | Failure {
  if (header === '') return undefined;
  return IDEMPOTENCY_KEY.test(header) ? header : failures.invalidIdempotencyKey;
}
