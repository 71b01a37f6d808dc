// Owns the rules for request input: the client id in the URL and the
// transaction body (what counts as valid JSON, the type and range of each
// field). It is pure (bytes in, a value or a Failure out) so the whole table
// of cases is tested without a server.

import {
  CLIENT_ID_MAX,
  DESCRIPTION_CHARACTERS_MAX,
  IDEMPOTENCY_KEY_CHARACTERS_MAX,
  AMOUNT_MAX,
} from '../../shared/limits.js';
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

/**
 * Characters a descricao may not hold, the same set sql/00-rules.sql
 * refuses (descricao_valida; test/database/sql-facts.test.ts compares them
 * code point by code point): controls, format characters (zero widths,
 * joiners, bidirectional overrides and isolates, the byte order mark...),
 * every other code point Unicode renders as nothing (Default_Ignorable_Code_Point:
 * the combining grapheme joiner, variation selectors, an emoji's presentation
 * selector too), line and paragraph separators, the Hangul fillers that render as blanks,
 * and the basic plane's two noncharacters. Stored, they would make a
 * statement show text unlike what was stored. A space stays a character.
 */
export const INVISIBLE_CHARACTERS = new RegExp(
  '[\\u0001-\\u001f\\u007f-\\u009f\\u00ad\\u034f\\u0600-\\u0605\\u061c\\u06dd\\u070f' +
    '\\u0890-\\u0891\\u08e2\\u115f-\\u1160\\u17b4-\\u17b5\\u180b-\\u180f\\u200b-\\u200f' +
    '\\u2028-\\u202e\\u2060-\\u206f\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufffb\\ufffe-\\uffff' +
    '\\u{110bd}\\u{110cd}\\u{13430}-\\u{1343f}\\u{1bca0}-\\u{1bca3}\\u{1d173}-\\u{1d17a}' +
    '\\u{e0000}-\\u{e0fff}]',
  'u',
);

/** The only way a valor may be written: digits, no sign, no leading zero, no fraction, no exponent. */
const AMOUNT_TEXT = /^[1-9][0-9]*$/;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
/** The contract's name of the amount field. */
const AMOUNT_FIELD = 'valor';
const AMOUNT_FIELD_CODES = [...AMOUNT_FIELD].map((character) => character.charCodeAt(0));

/** The index of the quote that closes the string whose opening quote is at `start`. */
function stringEnd(body: Uint8Array, start: number): number {
  let index = start + 1;
  while (body[index] !== QUOTE) index += body[index] === BACKSLASH ? 2 : 1;
  return index;
}

/** Whether the string from the quote at `start` to the quote at `end` is the key valor (compared as bytes, decoded only when escaped). */
function isAmountKey(body: Uint8Array, start: number, end: number): boolean {
  for (let index = start + 1; index < end; index++) {
    // A key written with escapes ("val\u006fr") is the same key to JSON.parse.
    if (body[index] === BACKSLASH)
      return JSON.parse(Buffer.from(body.subarray(start, end + 1)).toString('utf8')) === AMOUNT_FIELD;
  }
  if (end - start - 1 !== AMOUNT_FIELD_CODES.length) return false;
  return AMOUNT_FIELD_CODES.every((code, offset) => body[start + 1 + offset] === code);
}

/** Whether a byte can be part of a JSON number: digits, sign, point, exponent. */
function isNumberByte(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x2b || byte === 0x2e || byte === 0x65 || byte === 0x45
  );
}

/** The number text right after a colon at `index`, or undefined when the value is not a number. */
function numberTextAfter(body: Uint8Array, index: number): string | undefined {
  let start = index + 1;
  while (body[start] === 0x20 || body[start] === 0x09 || body[start] === 0x0a || body[start] === 0x0d) start++;
  let text = '';
  for (let end = start; end < body.length && isNumberByte(body[end]!); end++) text += String.fromCharCode(body[end]!);
  return text === '' ? undefined : text;
}

/**
 * The JSON text of the top-level "valor" member's number (the last one, as
 * JSON.parse keeps the last), in a body JSON.parse accepted as an object:
 * one pass over its bytes, skipping strings and nested values.
 */
export function amountText(body: Uint8Array): string | undefined {
  let depth = 0;
  let expectingKey = false;
  let keyIsAmount = false;
  let text: string | undefined;
  for (let index = 0; index < body.length; index++) {
    const byte = body[index]!;
    if (byte === QUOTE) {
      const end = stringEnd(body, index);
      if (depth === 1 && expectingKey) keyIsAmount = isAmountKey(body, index, end);
      expectingKey = false;
      index = end;
    } else if (byte === 0x7b || byte === 0x5b) {
      depth++;
      expectingKey = depth === 1;
    } else if (byte === 0x7d || byte === 0x5d) {
      depth--;
    } else if (depth === 1 && byte === COMMA) {
      expectingKey = true;
    } else if (depth === 1 && byte === COLON && keyIsAmount) {
      text = numberTextAfter(body, index);
      keyIsAmount = false;
    }
  }
  return text;
}

/** The body as a JSON object, or the failure that says why it is not one. */
export function parseJsonObject(body: Uint8Array): Record<string, unknown> | Failure {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch {
    return failures.malformedJson;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return failures.notAnObject;
  return value as Record<string, unknown>;
}

/** Whether valor is an amount: a whole number in range, written in the body as plain digits. */
export function isAmount(valor: unknown, body: Uint8Array): valor is number {
  if (typeof valor !== 'number' || !Number.isInteger(valor) || valor < 1 || valor > AMOUNT_MAX) return false;
  // JSON.parse read the number as a double: 0.99999999999999999 and
  // 1.0000000000000001 both became 1. Money typed with a fraction or an
  // exponent (1.0, 1e3) comes from a float somewhere, so only plain digits
  // are taken, as they were written.
  return AMOUNT_TEXT.test(amountText(body) ?? '');
}

/** Whether descricao is 1 to DESCRIPTION_CHARACTERS_MAX storable characters, none of them invisible. */
export function isDescription(descricao: unknown): descricao is string {
  if (typeof descricao !== 'string') return false;
  const characters = countStorableCharacters(descricao);
  if (characters < 1 || characters > DESCRIPTION_CHARACTERS_MAX) return false;
  return !INVISIBLE_CHARACTERS.test(descricao);
}

export function parseTransactionBody(body: Uint8Array): TransactionRequest | Failure {
  const value = parseJsonObject(body);
  if (value instanceof Failure) return value;
  const { valor, tipo, descricao } = value;
  if (!isAmount(valor, body)) return failures.invalidValor;
  if (tipo !== 'c' && tipo !== 'd') return failures.invalidTipo;
  if (!isDescription(descricao)) return failures.invalidDescricao;
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
