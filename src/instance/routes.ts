// Owns the API's routes. Every handler has the same shape: params -> body ->
// validate -> one ledger call -> reply, and ends through replyWith, so each
// exit path settles the request's bookkeeping exactly once. A known path
// asked with another method is a 405 naming the methods it answers.

import { readBody } from './body.js';
import { Failure, failures, methodNotAllowed } from './errors.js';
import type { Exchange, RequestBook } from './exchange.js';
import type { Ledger } from './ledger.js';
import type { Metrics, RouteName } from './metrics.js';
import { serializeExtrato, serializeTransactionResult, type TransactionResult } from './serializers.js';
import type { HttpResponse, TemplatedApp } from './uws.js';
import { parseClientId, parseTransactionBody } from './validation.js';

const STATUS_OK = '200 OK';
const STATUS_UNAVAILABLE = '503 Service Unavailable';
const NO_HEADERS = [] as const;
const RETRY_SOON = [['retry-after', '1']] as const;

export interface RouteContext {
  ledger: Ledger;
  book: RequestBook;
  metrics: Pick<Metrics, 'transaction'>;
  served: { transacoes: number; extrato: number; other: number };
  /** The body of GET /health, read before the request counts itself in flight. */
  healthBody: () => string;
}

/**
 * A bug found after an await must still crash the process. Rethrowing on a
 * fresh macrotask turns it into an uncaught exception, with its stack, instead
 * of a promise rejection somebody might swallow.
 */
export function crashOnBug(error: unknown): void {
  setImmediate(() => {
    throw error;
  });
}

export function replyFailure(book: RequestBook, exchange: Exchange, failure: Failure): void {
  book.reply(exchange, failure.status, failure.body, failure.headers, failure === failures.bodyTooLarge);
}

/** The last step of every handler: a ledger answer becomes a 200 or its failure. */
function replyWith<Result>(book: RequestBook, exchange: Exchange, result: Result | Failure, serialize: (value: Result) => string): void {
  if (result instanceof Failure) replyFailure(book, exchange, result);
  else book.reply(exchange, STATUS_OK, serialize(result), NO_HEADERS, false);
}

export function registerRoutes(app: TemplatedApp, context: RouteContext): void {
  const { ledger, book, served, metrics } = context;

  app.post('/clientes/:id/transacoes', (response, request) => {
    const exchange = book.begin(response, 'transacoes');
    served.transacoes++;
    const clientId = parseClientId(request.getParameter(0));
    const onBody = (body: Uint8Array) => {
      if (clientId === undefined) return replyFailure(book, exchange, failures.clientNotFound);
      const transaction = parseTransactionBody(body);
      if (transaction instanceof Failure) return replyFailure(book, exchange, transaction);
      exchange.awaitingLedger = true;
      ledger.registerTransaction(clientId, transaction).then((result) => {
        countTransaction(metrics, transaction.tipo, result);
        replyWith(book, exchange, result, serializeTransactionResult);
      }).catch(crashOnBug);
    };
    readBody(exchange, request.getHeader('content-length'), onBody, () => replyFailure(book, exchange, failures.bodyTooLarge));
  });

  app.get('/clientes/:id/extrato', (response, request) => {
    const exchange = book.begin(response, 'extrato');
    served.extrato++;
    const clientId = parseClientId(request.getParameter(0));
    if (clientId === undefined) return replyFailure(book, exchange, failures.clientNotFound);
    exchange.awaitingLedger = true;
    ledger.readExtrato(clientId)
      .then((result) => replyWith(book, exchange, result, serializeExtrato))
      .catch(crashOnBug);
  });

  registerProbeRoutes(app, context);
  registerMethodNotAllowed(app, book, { '/clientes/:id/transacoes': ['POST'], '/clientes/:id/extrato': ['GET'] });
  app.any('/*', (response) => {
    served.other++;
    replyFailure(book, book.begin(response, 'other'), failures.routeNotFound);
  });
}

function countTransaction(metrics: Pick<Metrics, 'transaction'>, tipo: 'c' | 'd', result: TransactionResult | Failure): void {
  if (!(result instanceof Failure)) metrics.transaction(tipo, 'applied');
  else if (result === failures.limitExceeded || result === failures.balanceTooLarge) metrics.transaction(tipo, 'refused');
}

/** GET /health (the process is alive; no database) and GET /ready (the database answers). */
export function registerProbeRoutes(app: TemplatedApp, context: Pick<RouteContext, 'ledger' | 'book' | 'served' | 'healthBody'>): void {
  const { ledger, book, served } = context;
  // Touches no database: operators read pool numbers here, and the benchmark
  // uses it as the floor of what one HTTP round trip costs.
  app.get('/health', (response) => {
    const body = context.healthBody();
    served.other++;
    book.reply(book.begin(response, 'health'), STATUS_OK, body, NO_HEADERS, false);
  });
  // Never loads the database: the ledger answers from its breaker, from a
  // call that succeeded within the last second, or from one bounded probe.
  app.get('/ready', (response) => {
    const exchange = book.begin(response, 'ready');
    served.other++;
    exchange.awaitingLedger = true;
    ledger.isReady().then((ready) => {
      if (ready) book.reply(exchange, STATUS_OK, '{"pronto":true}', NO_HEADERS, false);
      else book.reply(exchange, STATUS_UNAVAILABLE, '{"pronto":false,"motivo":"the database is not answering"}', RETRY_SOON, false);
    }).catch(crashOnBug);
  });
}

function registerMethodNotAllowed(app: TemplatedApp, book: RequestBook, methodsByPath: Record<string, readonly string[]>): void {
  for (const [path, methods] of Object.entries(methodsByPath)) {
    const failure = methodNotAllowed(methods);
    // uWebSockets.js prefers a method's own handler over `any` on the same path.
    app.any(path, (response: HttpResponse) => replyFailure(book, book.begin(response, 'other' satisfies RouteName), failure));
  }
}
