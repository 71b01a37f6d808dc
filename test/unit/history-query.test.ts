// The history's query rules and cursor format, without a server: every bad
// parameter is a clear 422 of the catalogue, decided before any database
// call, and a cursor survives its round trip through text unchanged.

import { describe, expect, it } from 'vitest';
import { HISTORY_PAGE_ROWS_DEFAULT } from '../../src/shared/limits.js';
import { failures } from '../../src/shared/failures.js';
import { decodeCursor, encodeCursor } from '../../src/instance/ledger/history-cursor.js';
import { parseHistoryQuery, parseIsoTime } from '../../src/instance/http/history-query.js';

const tag = Buffer.from('0123456789ab');
const cursorOf = (clientId: number, beforeId: number) => encodeCursor({ clientId, beforeId, tag });

describe('parseHistoryQuery', () => {
  it('takes no query as the newest page of the default size, unfiltered', () => {
    expect(parseHistoryQuery(1, undefined)).toEqual({
      limit: HISTORY_PAGE_ROWS_DEFAULT,
      before: undefined,
      tipo: undefined,
      since: undefined,
      until: undefined,
      amountMin: undefined,
      amountMax: undefined,
    });
  });

  it('reads every parameter, percent-encoded or not', () => {
    const query =
      `limit=100&before=${cursorOf(3, 42)}&tipo=d&desde=2024-01-17T02%3A34%3A41.217753Z` +
      '&ate=2024-01-18T00:00:00-03:00&valor_min=1&valor_max=2147483647';
    expect(parseHistoryQuery(3, query)).toEqual({
      limit: 100,
      before: { clientId: 3, beforeId: 42, tag },
      tipo: 'd',
      since: '2024-01-17T02:34:41.217753Z',
      until: '2024-01-18T00:00:00-03:00',
      amountMin: 1,
      amountMax: 2147483647,
    });
  });

  it.each([
    ['limit=abc', failures.invalidLimit],
    ['limit=0', failures.invalidLimit],
    ['limit=101', failures.invalidLimit],
    ['limit=1.5', failures.invalidLimit],
    ['limit=', failures.invalidLimit],
    ['limit=-1', failures.invalidLimit],
    ['limite=10', failures.unknownParameter],
    ['limit=10&limit=20', failures.unknownParameter],
    ['before=nada', failures.invalidCursor],
    [`before=${cursorOf(2, 42)}`, failures.invalidCursor],
    ['tipo=x', failures.invalidTipo],
    ['desde=ontem', failures.invalidTime],
    ['desde=2024-02-30T00:00:00Z', failures.invalidTime],
    ['desde=2024-01-17T24:00:00Z', failures.invalidTime],
    ['desde=2024-01-17T02:34:41', failures.invalidTime],
    ['desde=0000-01-01T00:00:00Z', failures.invalidTime],
    ['ate=2024-01-17T02:34:41.1234567Z', failures.invalidTime],
    ['ate=2024-01-17T02:34:41+15:00', failures.invalidTime],
    ['valor_min=0', failures.invalidValorFilter],
    ['valor_max=2147483648', failures.invalidValorFilter],
    ['valor_min=1e3', failures.invalidValorFilter],
    ['desde=2024-01-18T00:00:00Z&ate=2024-01-17T00:00:00Z', failures.invertedRange],
    ['desde=2024-01-17T00:00:00.000001Z&ate=2024-01-17T00:00:00Z', failures.invertedRange],
    ['valor_min=10&valor_max=9', failures.invertedRange],
  ])('%s is refused with %s', (query, failure) => {
    expect(parseHistoryQuery(1, query)).toBe(failure);
  });

  it('an instant is compared across zones, to the microsecond', () => {
    // 00:00 at -03:00 is 03:00 UTC: after 02:59:59.999999 UTC, not after 03:00.
    expect(parseHistoryQuery(1, 'desde=2024-01-17T00:00:00-03:00&ate=2024-01-17T02:59:59.999999Z')).toBe(
      failures.invertedRange,
    );
    expect(parseHistoryQuery(1, 'desde=2024-01-17T00:00:00-03:00&ate=2024-01-17T03:00:00Z')).toMatchObject({
      limit: HISTORY_PAGE_ROWS_DEFAULT,
    });
    expect(parseIsoTime('2024-01-17T00:00:00.25-03:00')).toEqual([Date.UTC(2024, 0, 17, 3), 250_000]);
  });

  it('reads years below 100 as those years (Date.UTC would read them as 1900 and up)', () => {
    const year99 = new Date(0);
    year99.setUTCFullYear(99, 11, 31);
    year99.setUTCHours(23, 59, 59);
    expect(parseIsoTime('0099-12-31T23:59:59Z')).toEqual([year99.getTime(), 0]);
  });
});

describe('history cursors', () => {
  it('round-trip through text', () => {
    const cursor = { clientId: 2_147_483_647, beforeId: Number.MAX_SAFE_INTEGER, tag };
    const text = encodeCursor(cursor);
    expect(text).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(decodeCursor(text)).toEqual(cursor);
  });

  it.each(['', 'x'.repeat(31), 'x'.repeat(33), `${'A'.repeat(31)}=`, 'A'.repeat(32)])('%j is not a cursor', (text) => {
    expect(decodeCursor(text)).toBeUndefined();
  });
});
