// Owns the API's routes. Every handler has the same shape: params -> body ->
// validate -> one ledger call -> reply, and ends through the replies below, so
// each exit path settles the request's bookkeeping exactly once. A known path
// asked with another method is a 405 naming the methods it answers. The API
// description and its page are routes of their own (docs.ts); /health and
// /ready are served on the admin listener too (server.ts).

import { REPLAYED_HEADER } from './headers.js';
import { readBody } from './body.js';
import { registerDocsRoutes } from './docs.js';
import { crashOnBug } from '../../shared/invariant.js';
import { Failure, failures, methodNotAllowed } from '../../shared/failures.js';
import type { Exchange, Header, RequestBook } from './exchange.js';
import { parseHistoryQuery } from './history-query.js';
import type { Ledger } from '../ledger/ledger.js';
import { serializeExtrato, serializeHistoryPage, serializeTransactionResult } from './serializers.js';
import { Replay, type TransactionAnswer } from '../ledger/transactions.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.js';
import { parseClientId, parseIdempotencyKey, parseTransactionBody } from './validation.js';

export const STATUS_OK = '200 OK';
const STATUS_UNAVAILABLE = '503 Service Unavailable';
const NO_HEADERS: readonly Header[] = [];
const REPLAYED: readonly Header[] = [[REPLAYED_HEADER.toLowerCase(), 'true']];
const RETRY_SOON: readonly Header[] = [['retry-after', '1']];

export interface RouteContext {
  ledger: Ledger;
  book: RequestBook;
  metrics: { transaction(tipo: 'c' | 'd', result: 'applied' | 'refused'): void };
  served: { transacoes: number; extrato: number; historico: number; other: number };
  /** The body of GET /health, read before the request counts itself in flight. */
  healthBody: () => string;
}

type Handler = (response: HttpResponse, request: HttpRequest) => void;

/** A Failure of the catalogue, with the headers it carries (Retry-After, Allow) and any more. */
export function replyFailure(book: RequestBook, exchange: Exchange, failure: Failure, headers = NO_HEADERS): void {
  book.reply(exchange, failure.status, failure.body, failure === failures.bodyTooLarge, undefined, headers.length === 0 ? failure.headers : [...failure.headers, ...headers]);
}

/** A ledger answer: a result (200) or a Failure. */
function replyWith<Result>(book: RequestBook, exchange: Exchange, result: Result | Failure, serialize: (value: Result) => string, headers = NO_HEADERS): void {
  if (result instanceof Failure) replyFailure(book, exchange, result, headers);
  else book.reply(exchange, STATUS_OK, serialize(result), false, undefined, headers);
}

/** A replayed outcome is written exactly as the first time, marked as a replay; only a first outcome is counted. */
function replyTransaction(context: RouteContext, exchange: Exchange, tipo: 'c' | 'd', answer: TransactionAnswer): void {
  if (answer instanceof Replay) return replyWith(context.book, exchange, answer.answer, serializeTransactionResult, REPLAYED);
  if (!(answer instanceof Failure)) context.metrics.transaction(tipo, 'applied');
  else if (answer === failures.limitExceeded || answer === failures.balanceTooLarge) context.metrics.transaction(tipo, 'refused');
  replyWith(context.book, exchange, answer, serializeTransactionResult);
}

function postTransaction(context: RouteContext): Handler {
  const { ledger, book, served } = context;
  return (response, request) => {
    const exchange = book.begin(response, 'transacoes');
    served.transacoes++;
    const clientId = parseClientId(request.getParameter(0));
    // The request object is valid only until this handler returns.
    const key = parseIdempotencyKey(request.getHeader('idempotency-key'));
    const onBody = (body: Uint8Array) => {
      if (clientId === undefined) return replyFailure(book, exchange, failures.clientNotFound);
      if (key instanceof Failure) return replyFailure(book, exchange, key);
      const transaction = parseTransactionBody(body);
      if (transaction instanceof Failure) return replyFailure(book, exchange, transaction);
      exchange.awaitingLedger = true;
      ledger.registerTransaction(clientId, transaction, key)
        .then((answer) => replyTransaction(context, exchange, transaction.tipo, answer))
        .catch(crashOnBug);
    };
    readBody(exchange, request.getHeader('content-length'), onBody, () => replyFailure(book, exchange, failures.bodyTooLarge));
  };
}

function getExtrato({ ledger, book, served }: RouteContext): Handler {
  return (response, request) => {
    const exchange = book.begin(response, 'extrato');
    served.extrato++;
    const clientId = parseClientId(request.getParameter(0));
    if (clientId === undefined) return replyFailure(book, exchange, failures.clientNotFound);
    exchange.awaitingLedger = true;
    ledger.readExtrato(clientId)
      .then((result) => replyWith(book, exchange, result, serializeExtrato))
      .catch(crashOnBug);
  };
}

function getHistory({ ledger, book, served }: RouteContext): Handler {
  return (response, request) => {
    const exchange = book.begin(response, 'historico');
    served.historico++;
    const clientId = parseClientId(request.getParameter(0));
    if (clientId === undefined) return replyFailure(book, exchange, failures.clientNotFound);
    const query = parseHistoryQuery(clientId, request.getQuery());
    if (query instanceof Failure) return replyFailure(book, exchange, query);
    exchange.awaitingLedger = true;
    ledger.readHistory(clientId, query)
      .then((result) => replyWith(book, exchange, result, serializeHistoryPage))
      .catch(crashOnBug);
  };
}

export function registerRoutes(app: TemplatedApp, context: RouteContext): void {
  const { book, served } = context;
  app.post('/clientes/:id/transacoes', postTransaction(context));
  app.get('/clientes/:id/transacoes', getHistory(context));
  app.get('/clientes/:id/extrato', getExtrato(context));
  registerDocsRoutes(app, book, served);
  registerProbeRoutes(app, context);
  registerMethodNotAllowed(app, book, { '/clientes/:id/transacoes': ['GET', 'POST'], '/clientes/:id/extrato': ['GET'] });
  app.any('/*', (response) => {
    served.other++;
    replyFailure(book, book.begin(response, 'other'), failures.routeNotFound);
  });
}

/** GET /health (the process is alive; no database) and GET /ready (the database answers). */
export function registerProbeRoutes(app: TemplatedApp, context: Pick<RouteContext, 'ledger' | 'book' | 'served' | 'healthBody'>): void {
  const { ledger, book, served } = context;
  // Touches no database: operators read pool numbers here, and the benchmark
  // uses it as the floor of what one HTTP round trip costs.
  app.get('/health', (response) => {
    const body = context.healthBody();
    served.other++;
    book.reply(book.begin(response, 'health'), STATUS_OK, body, false);
  });
  // Never loads the database: the ledger answers from its breaker, from a
  // call that succeeded within the last second, or from one bounded probe.
  app.get('/ready', (response) => {
    const exchange = book.begin(response, 'ready');
    served.other++;
    exchange.awaitingLedger = true;
    ledger.isReady().then((ready) => {
      if (ready) book.reply(exchange, STATUS_OK, '{"pronto":true}', false);
      else book.reply(exchange, STATUS_UNAVAILABLE, '{"pronto":false,"motivo":"the database is not answering"}', false, undefined, RETRY_SOON);
    }).catch(crashOnBug);
  });
}

function registerMethodNotAllowed(app: TemplatedApp, book: RequestBook, methodsByPath: Record<string, readonly string[]>): void {
  for (const [path, methods] of Object.entries(methodsByPath)) {
    const failure = methodNotAllowed(methods);
    // uWebSockets.js prefers a method's own handler over `any` on the same path.
    app.any(path, (response: HttpResponse) => replyFailure(book, book.begin(response, 'other'), failure));
  }
}
