// Declares GET /clientes/{id}/transacoes, crebito's own: the full history,
// a page at a time, filtered by the query string (http/history-query.ts);
// the query and how its rows become a page are in ledger/history.ts.

import { Failure, failures } from '../../shared/failures.js';
import {
  AMOUNT_MAX,
  HISTORY_PAGE_ROWS_DEFAULT,
  HISTORY_PAGE_ROWS_MAX,
  HISTORY_SCAN_ROWS_MAX,
} from '../../shared/limits.js';
import {
  AUTH_NOTES,
  AUTH_SECURITY,
  errorResponses,
  json,
  OWN,
  READ_AUTH,
  READ_UNAVAILABLE,
  UNAVAILABLE_NOTES,
} from '../http/api-description.js';
import { authorize } from '../http/auth.js';
import { parseHistoryQuery } from '../http/history-query.js';
import { replyFailure, replyWith } from '../http/replies.js';
import { HISTORY_PAGE_SCHEMA, serializeHistoryPage } from '../http/serializers.js';
import { parseClientId } from '../http/validation.js';
import { HISTORY_QUERY, readHistoryPage, type HistoryAnswer, type HistoryRead } from '../ledger/history.js';
import type { ApiOperation, Handle } from './declaration.js';

// Pages are read one per call: each has its own filters and cursor. One page
// in flight bounds how many share the reads' connections at once, and the
// budget how much database time they take: readers asking pages back to back
// would otherwise keep a core of PostgreSQL busy per instance, whatever the
// page's scan bound.
const PAGES_IN_FLIGHT_MAX = 1;

const handle: Handle<HistoryRead, HistoryAnswer> = ({ ledger, book }, exchange, request, submit) => {
  const clientId = parseClientId(request.getParameter(0));
  const apiKey = authorize(
    ledger.apiKeys,
    request.getHeader('authorization'),
    clientId,
    'read',
    request.getHeader('x-real-ip'),
  );
  if (apiKey instanceof Failure) return replyFailure(book, exchange, apiKey);
  if (clientId === undefined) return replyFailure(book, exchange, failures.clientNotFound);
  const query = parseHistoryQuery(clientId, request.getQuery());
  if (query instanceof Failure) return replyFailure(book, exchange, query);
  book.replyAfter(exchange, submit({ clientId, query }), (answer) =>
    replyWith(book, exchange, answer, serializeHistoryPage),
  );
};

const historyParameter = (name: string, description: string, schema: object) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema,
});
const DATE_TIME = { type: 'string', format: 'date-time' };
const AMOUNT = { type: 'integer', minimum: 1, maximum: AMOUNT_MAX };

const DESCRIPTION = {
  operationId: 'historico',
  tags: [OWN],
  summary: 'The full history, a page at a time',
  description:
    'Every transaction of the client, newest first, each with `saldo_apos`, the balance right after it, ' +
    'so that a statement can be audited line by line. ' +
    'Pages follow each other by `before=<next>`; walking them while writes continue returns every transaction ' +
    'exactly once (new ones appear on a new first page). ' +
    `Each page reads at most ${HISTORY_SCAN_ROWS_MAX} of the client's transactions, matching or not, ` +
    "so that a page costs the same whatever the filters and the history's length: " +
    'a page with filters may hold fewer than `limit` transactions, even none, and still have a `next`; ' +
    'keep following `next` until it is absent. ' +
    'Send the same filters with every page. With API keys on, each entry names the key that made it (`chave_api`).',
  security: AUTH_SECURITY,
  parameters: [
    historyParameter('limit', 'transactions per page', {
      type: 'integer',
      minimum: 1,
      maximum: HISTORY_PAGE_ROWS_MAX,
      default: HISTORY_PAGE_ROWS_DEFAULT,
    }),
    historyParameter('before', 'the `next` value of the previous page, unchanged', { type: 'string' }),
    historyParameter('tipo', 'only credits (`c`) or debits (`d`)', { type: 'string', enum: ['c', 'd'] }),
    historyParameter('desde', 'only transactions recorded at or after this time (ISO 8601 with a zone)', DATE_TIME),
    historyParameter('ate', 'only transactions recorded before this time (ISO 8601 with a zone)', DATE_TIME),
    historyParameter('valor_min', 'only amounts of at least this many cents', AMOUNT),
    historyParameter('valor_max', 'only amounts of at most this many cents', AMOUNT),
  ],
  responses: {
    200: json(HISTORY_PAGE_SCHEMA, 'A page.'),
    ...errorResponses(
      [
        failures.clientNotFound,
        failures.unknownParameter,
        failures.invalidLimit,
        failures.invalidCursor,
        failures.invalidTipo,
        failures.invalidTime,
        failures.invalidValorFilter,
        failures.invertedRange,
        failures.rejectedByDatabase,
        ...READ_UNAVAILABLE,
        ...READ_AUTH,
      ],
      { ...UNAVAILABLE_NOTES, ...AUTH_NOTES },
    ),
  },
};

export const HISTORY = {
  method: 'get',
  path: '/clientes/:id/transacoes',
  label: 'historico',
  access: 'read',
  connections: 'reads',
  queries: [HISTORY_QUERY],
  sizeMax: () => 1,
  inFlightMax: () => PAGES_IN_FLIGHT_MAX,
  dbMsPerSecond: (settings) => settings.historyDbMsPerSecond,
  send: async ([read], { database, log }) => [await readHistoryPage(database, read!, log)],
  handle,
  description: DESCRIPTION,
} as const satisfies ApiOperation<HistoryRead, HistoryAnswer>;
