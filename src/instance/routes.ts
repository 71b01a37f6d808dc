// Owns the API's routes. Every handler has the same shape: params -> body ->
// validate -> one ledger call -> reply, and ends through replyWith, so each
// exit path settles the request's bookkeeping exactly once. The API
// description and its page are routes of their own (docs.ts).

import { REPLAYED_HEADER } from './api-limits.js';
import { readBody } from './body.js';
import { registerDocsRoutes } from './docs.js';
import { crashOnBug, Failure, failures } from './errors.js';
import type { Exchange, Header, RequestBook } from './exchange.js';
import { parseHistoryQuery } from './history-query.js';
import type { Ledger } from './ledger.js';
import { serializeExtrato, serializeHistoryPage, serializeTransactionResult } from './serializers.js';
import { Replay, type TransactionAnswer } from './transactions.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.js';
import { parseClientId, parseIdempotencyKey, parseTransactionBody } from './validation.js';

export const STATUS_OK = '200 OK';
const NO_HEADERS: readonly Header[] = [];
const REPLAYED: readonly Header[] = [[REPLAYED_HEADER.toLowerCase(), 'true']];

export interface RouteContext {
  ledger: Ledger;
  book: RequestBook;
  served: { transacoes: number; extrato: number; historico: number; other: number };
  /** The body of GET /health, read before the request counts itself in flight. */
  healthBody: () => string;
}

type Handler = (response: HttpResponse, request: HttpRequest) => void;

/** The two ways a request ends: a Failure of the catalogue, or a ledger answer that is a result or a Failure. */
function replies(book: RequestBook) {
  const replyFailure = (exchange: Exchange, failure: Failure, headers = NO_HEADERS) =>
    book.reply(exchange, failure.status, failure.body, failure === failures.bodyTooLarge, undefined, headers);
  const replyWith = <Result>(exchange: Exchange, result: Result | Failure, serialize: (value: Result) => string, headers = NO_HEADERS) => {
    if (result instanceof Failure) replyFailure(exchange, result, headers);
    else book.reply(exchange, STATUS_OK, serialize(result), false, undefined, headers);
  };
  /** A replayed outcome is written exactly as the first time, marked as a replay. */
  const replyTransaction = (exchange: Exchange, answer: TransactionAnswer) => {
    if (answer instanceof Replay) replyWith(exchange, answer.answer, serializeTransactionResult, REPLAYED);
    else replyWith(exchange, answer, serializeTransactionResult);
  };
  return { replyFailure, replyWith, replyTransaction };
}

function postTransaction({ ledger, book, served }: RouteContext): Handler {
  const { replyFailure, replyTransaction } = replies(book);
  return (response, request) => {
    const exchange = book.begin(response);
    served.transacoes++;
    const clientId = parseClientId(request.getParameter(0));
    // The request object is valid only until this handler returns.
    const key = parseIdempotencyKey(request.getHeader('idempotency-key'));
    const onBody = (body: Uint8Array) => {
      if (clientId === undefined) return replyFailure(exchange, failures.clientNotFound);
      if (key instanceof Failure) return replyFailure(exchange, key);
      const transaction = parseTransactionBody(body);
      if (transaction instanceof Failure) return replyFailure(exchange, transaction);
      exchange.awaitingLedger = true;
      ledger.registerTransaction(clientId, transaction, key)
        .then((answer) => replyTransaction(exchange, answer))
        .catch(crashOnBug);
    };
    readBody(exchange, request.getHeader('content-length'), onBody, () => replyFailure(exchange, failures.bodyTooLarge));
  };
}

function getExtrato({ ledger, book, served }: RouteContext): Handler {
  const { replyFailure, replyWith } = replies(book);
  return (response, request) => {
    const exchange = book.begin(response);
    served.extrato++;
    const clientId = parseClientId(request.getParameter(0));
    if (clientId === undefined) return replyFailure(exchange, failures.clientNotFound);
    exchange.awaitingLedger = true;
    ledger.readExtrato(clientId)
      .then((result) => replyWith(exchange, result, serializeExtrato))
      .catch(crashOnBug);
  };
}

function getHistory({ ledger, book, served }: RouteContext): Handler {
  const { replyFailure, replyWith } = replies(book);
  return (response, request) => {
    const exchange = book.begin(response);
    served.historico++;
    const clientId = parseClientId(request.getParameter(0));
    if (clientId === undefined) return replyFailure(exchange, failures.clientNotFound);
    const query = parseHistoryQuery(clientId, request.getQuery());
    if (query instanceof Failure) return replyFailure(exchange, query);
    exchange.awaitingLedger = true;
    ledger.readHistory(clientId, query)
      .then((result) => replyWith(exchange, result, serializeHistoryPage))
      .catch(crashOnBug);
  };
}

export function registerRoutes(app: TemplatedApp, context: RouteContext): void {
  const { book, served } = context;
  const { replyFailure } = replies(book);
  app.post('/clientes/:id/transacoes', postTransaction(context));
  app.get('/clientes/:id/transacoes', getHistory(context));
  app.get('/clientes/:id/extrato', getExtrato(context));
  registerDocsRoutes(app, book, served);

  // Touches no database: operators read pool numbers here, and the benchmark
  // uses it as the floor of what one HTTP round trip costs.
  app.get('/health', (response) => {
    const body = context.healthBody();
    served.other++;
    book.reply(book.begin(response), STATUS_OK, body, false);
  });

  app.any('/*', (response) => {
    const exchange = book.begin(response);
    served.other++;
    replyFailure(exchange, failures.routeNotFound);
  });
}
