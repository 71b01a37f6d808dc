// `npm run events -- recover`'s options (src/events/recover.ts): one start
// point, a time only with its zone, whole numbers within bounds, and a
// refusal (which changes nothing) for anything else. The recovery itself is
// proven on a real stack: test/stack/events.test.ts.

import { describe, expect, it } from 'vitest';
import {
  parseRecoverArguments,
  RECOVER_ROWS_MAX_DEFAULT,
  RECOVER_ROWS_MAX_LIMIT,
  RecoveryRefused,
} from '../../src/events/recover.js';

describe('npm run events -- recover, its options', () => {
  it('defaults to every row the ledger holds, within the default limit', () => {
    expect(parseRecoverArguments([])).toEqual({ start: { kind: 'all' }, rowsMax: RECOVER_ROWS_MAX_DEFAULT });
  });

  it('takes a start point as a time with its zone or as an id, and a limit', () => {
    expect(parseRecoverArguments(['--since', '2026-12-06T05:00:00.5+01:00', '--limit', '5000'])).toEqual({
      start: { kind: 'since', at: new Date('2026-12-06T04:00:00.500Z') },
      rowsMax: 5000,
    });
    expect(parseRecoverArguments(['--from-id', '4211']).start).toEqual({ kind: 'from-id', id: 4211 });
  });

  it.each([
    [['--since', '2026-12-06T05:00:00'], /with its zone/],
    [['--since', 'yesterday'], /with its zone/],
    [['--since', '2026-13-45T05:00:00Z'], /with its zone/],
    [['--from-id', '0'], /whole number from 1/],
    [['--from-id', '1e3'], /whole number from 1/],
    [['--from-id', '9007199254740993'], /whole number from 1/],
    [['--limit', String(RECOVER_ROWS_MAX_LIMIT + 1)], /whole number from 1/],
    [['--since', '2026-12-06T05:00:00Z', '--from-id', '3'], /one start point/],
    [['--from-id'], /needs a value/],
    [['--client', '1'], /unknown option/],
  ])('refuses %j', (args, message) => {
    expect(() => parseRecoverArguments(args)).toThrow(RecoveryRefused);
    expect(() => parseRecoverArguments(args)).toThrow(message);
  });
});
