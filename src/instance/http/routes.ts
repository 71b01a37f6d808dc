// Owns the API's routes, each listed once in API_ROUTES with its handler.
// Every handler has the same shape: params -> body -> validate -> one ledger
// call -> reply. The request is counted in before its handler runs; the
// handler reads what it needs from the request synchronously (uWebSockets.js
// frees it on return) and ends through replies.ts or book.replyAfter, so each
// exit path settles the request's bookkeeping exactly once. The 405s and the
// served counters of /health are derived from the same list; the API
// description and its page (docs.ts) and the probes (probes.ts) are routes of
// their own.

import { Failure, failures } from '../../shared/failures.js';
import type { AnswerOf, Ledger } from '../ledger/ledger.js';
import { Replay } from '../ledger/transactions.js';
import { authorize } from './auth.js';
import { readBody } from './body.js';
import { registerDocsRoutes } from './docs.js';
import type { Exchange, RequestBook } from './exchange.js';
import { registerFallbacks } from './fallbacks.js';
import { readIdempotencyKeyHeader, REPLAYED_HEADER } from './headers.js';
import { parseHistoryQuery } from './history-query.js';
import { registerProbeRoutes } from './probes.js';
import { replyFailure, replyWith } from './replies.js';
import { serializeHistoryPage, serializeStatement, serializeTransactionResult } from './serializers.js';
import type { HttpRequest, TemplatedApp } from './uws.js';
import { parseClientId, parseIdempotencyKey, parseTransactionBody } from './validation.js';

const REPLAYED = [[REPLAYED_HEADER.toLowerCase(), 'true']] as const;

export interface RouteContext {
  ledger: Ledger;
  book: RequestBook;
  metrics: { transaction(tipo: 'c' | 'd', result: 'applied' | 'refused'): void };
  /** The body of GET /health, read before the request counts itself in flight. */
  healthBody: () => string;
}

/** A route's handler, given its request already counted in. */
type Handle = (context: RouteContext, exchange: Exchange, request: HttpRequest) => void;

/** A replayed outcome is written exactly as the first time, marked as a replay; only a first outcome is counted. */
function replyTransaction(context: RouteContext, exchange: Exchange, tipo: 'c' | 'd', answer: AnswerOf<'transactions'>): void {
  if (answer instanceof Replay) return replyWith(context.book, exchange, answer.answer, serializeTransactionResult, REPLAYED);
  if (!(answer instanceof Failure)) context.metrics.transaction(tipo, 'applied');
  else if (answer === failures.limitExceeded || answer === failures.balanceTooLarge) context.metrics.transaction(tipo, 'refused');
  replyWith(context.book, exchange, answer, serializeTransactionResult);
}

const postTransaction: Handle = (context, exchange, request) => {
  const { ledger, book } = context;
  const clientId = parseClientId(request.getParameter(0));
  const apiKey = authorize(ledger.apiKeys, request.getHeader('authorization'), clientId, 'write',
    request.getHeader('x-real-ip'));
  const header = readIdempotencyKeyHeader(request);
  const key = header instanceof Failure ? header : parseIdempotencyKey(header);
  // The body is read first even when the key is refused: answering before
  // it would leave its bytes on the connection, read as the next request.
  const onBody = (body: Uint8Array) => {
    if (apiKey instanceof Failure) return replyFailure(book, exchange, apiKey);
    if (clientId === undefined) return replyFailure(book, exchange, failures.clientNotFound);
    if (key instanceof Failure) return replyFailure(book, exchange, key);
    const transaction = parseTransactionBody(body);
    if (transaction instanceof Failure) return replyFailure(book, exchange, transaction);
    const pending = { clientId, request: transaction, key, apiKeyProof: apiKey?.proof };
    book.replyAfter(exchange, ledger.submit('transactions', pending),
      (answer) => replyTransaction(context, exchange, transaction.tipo, answer));
  };
  readBody(exchange, request.getHeader('content-length'), onBody, () => replyFailure(book, exchange, failures.bodyTooLarge));
};

const getStatement: Handle = ({ ledger, book }, exchange, request) => {
  const clientId = parseClientId(request.getParameter(0));
  const apiKey = authorize(ledger.apiKeys, request.getHeader('authorization'), clientId, 'read',
    request.getHeader('x-real-ip'));
  if (apiKey instanceof Failure) return replyFailure(book, exchange, apiKey);
  if (clientId === undefined) return replyFailure(book, exchange, failures.clientNotFound);
  book.replyAfter(exchange, ledger.submit('statements', clientId), (answer) => replyWith(book, exchange, answer, serializeStatement));
};

const getHistory: Handle = ({ ledger, book }, exchange, request) => {
  const clientId = parseClientId(request.getParameter(0));
  const apiKey = authorize(ledger.apiKeys, request.getHeader('authorization'), clientId, 'read',
    request.getHeader('x-real-ip'));
  if (apiKey instanceof Failure) return replyFailure(book, exchange, apiKey);
  if (clientId === undefined) return replyFailure(book, exchange, failures.clientNotFound);
  const query = parseHistoryQuery(clientId, request.getQuery());
  if (query instanceof Failure) return replyFailure(book, exchange, query);
  book.replyAfter(exchange, ledger.submit('history', { clientId, query }), (answer) => replyWith(book, exchange, answer, serializeHistoryPage));
};

/** The API's routes; `label` names each in the metrics and in /health's served counts. */
export const API_ROUTES = [
  { method: 'post', path: '/clientes/:id/transacoes', label: 'transacoes', handle: postTransaction },
  { method: 'get', path: '/clientes/:id/transacoes', label: 'historico', handle: getHistory },
  { method: 'get', path: '/clientes/:id/extrato', label: 'extrato', handle: getStatement },
] as const satisfies readonly { method: 'get' | 'post'; path: string; label: string; handle: Handle }[];

export type ApiRouteLabel = (typeof API_ROUTES)[number]['label'];

export function registerRoutes(app: TemplatedApp, context: RouteContext): void {
  const { book } = context;
  for (const route of API_ROUTES) {
    app[route.method](route.path, (response, request) => route.handle(context, book.begin(response, route.label), request));
  }
  registerDocsRoutes(app, book);
  registerProbeRoutes(app, context);
  registerFallbacks(app, book, API_ROUTES);
}
