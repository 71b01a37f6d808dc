// Owns the rules for the query string of GET /clientes/{id}/transacoes: which
// parameters there are, the type and range of each, and how they must agree
// (a cursor of this client, ranges not inverted). Pure, like validation.ts:
// text in, a HistoryQuery or a Failure out, so that nothing the database
// would refuse (an impossible date, a number past a column) ever reaches it.

import { AMOUNT_MAX, HISTORY_PAGE_ROWS_DEFAULT, HISTORY_PAGE_ROWS_MAX } from '../../shared/limits.js';
import { failures, Failure } from '../../shared/failures.js';
import { decodeCursor } from '../ledger/history-cursor.js';
import type { HistoryQuery } from '../ledger/history.js';

const PARAMETERS = ['limit', 'before', 'tipo', 'desde', 'ate', 'valor_min', 'valor_max'] as const;
type Parameter = (typeof PARAMETERS)[number];

const WHOLE_NUMBER = /^[1-9][0-9]{0,9}$/;
const ISO_TIME =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?(?:Z|([+-])([0-9]{2}):([0-9]{2}))$/;
const OFFSET_HOURS_MAX = 14;

/** The query's parameters by name; undefined when one is unknown or repeated. */
function readParameters(query: string): Partial<Record<Parameter, string>> | undefined {
  const values: Partial<Record<Parameter, string>> = {};
  for (const [name, value] of new URLSearchParams(query)) {
    if (!(PARAMETERS as readonly string[]).includes(name) || values[name as Parameter] !== undefined) return undefined;
    values[name as Parameter] = value;
  }
  return values;
}

/** A whole number from 1 to max, or undefined. */
function wholeNumber(text: string, max: number): number | undefined {
  if (!WHOLE_NUMBER.test(text)) return undefined;
  const value = Number(text);
  return value <= max ? value : undefined;
}

/**
 * An instant as [UTC milliseconds, extra microseconds], or undefined for a
 * time that does not exist (month 13, February 30, hour 24, year 0). Built
 * with setUTCFullYear: Date.UTC reads years 0-99 as 1900-1999.
 */
export function parseIsoTime(text: string): [number, number] | undefined {
  const match = ISO_TIME.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second);
  if (year < 1 || date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day)
    return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const offsetHours = Number(match[9] ?? 0);
  const offsetMinutes = Number(match[10] ?? 0);
  if (offsetHours > OFFSET_HOURS_MAX || offsetMinutes > 59) return undefined;
  const offsetMs = (match[8] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  return [date.getTime() - offsetMs, Number((match[7] ?? '').padEnd(6, '0'))];
}

const isAfter = (a: [number, number], b: [number, number]) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

export function parseHistoryQuery(clientId: number, query: string | undefined): HistoryQuery | Failure {
  const values = readParameters(query ?? '');
  if (values === undefined) return failures.unknownParameter;
  const limit =
    values.limit === undefined ? HISTORY_PAGE_ROWS_DEFAULT : wholeNumber(values.limit, HISTORY_PAGE_ROWS_MAX);
  if (limit === undefined) return failures.invalidLimit;
  const before = values.before === undefined ? undefined : decodeCursor(values.before);
  if (values.before !== undefined && before?.clientId !== clientId) return failures.invalidCursor;
  const tipo = values.tipo;
  if (tipo !== undefined && tipo !== 'c' && tipo !== 'd') return failures.invalidTipo;

  const since = values.desde === undefined ? undefined : parseIsoTime(values.desde);
  const until = values.ate === undefined ? undefined : parseIsoTime(values.ate);
  if ((values.desde !== undefined && since === undefined) || (values.ate !== undefined && until === undefined))
    return failures.invalidTime;
  const amountMin = values.valor_min === undefined ? undefined : wholeNumber(values.valor_min, AMOUNT_MAX);
  const amountMax = values.valor_max === undefined ? undefined : wholeNumber(values.valor_max, AMOUNT_MAX);
  if (
    (values.valor_min !== undefined && amountMin === undefined) ||
    (values.valor_max !== undefined && amountMax === undefined)
  ) {
    return failures.invalidValorFilter;
  }
  if (
    (since !== undefined && until !== undefined && isAfter(since, until)) ||
    (amountMin !== undefined && amountMax !== undefined && amountMin > amountMax)
  ) {
    return failures.invertedRange;
  }
  return { limit, before, tipo, since: values.desde, until: values.ate, amountMin, amountMax };
}
