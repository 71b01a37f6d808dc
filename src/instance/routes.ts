// Owns the API's routes. Every handler has the same shape: params -> body ->
// validate -> one ledger call -> reply, and ends through replyWith, so each
// exit path settles the request's bookkeeping exactly once.

import { readBody } from './body.js';
import { Failure, failures } from './errors.js';
import type { Exchange, RequestBook } from './exchange.js';
import type { Ledger } from './ledger.js';
import { serializeExtrato, serializeTransactionResult } from './serializers.js';
import type { TemplatedApp } from './uws.js';
import { parseClientId, parseTransactionBody } from './validation.js';

const STATUS_OK = '200 OK';

export interface RouteContext {
  ledger: Ledger;
  book: RequestBook;
  served: { transacoes: number; extrato: number; other: number };
  /** The body of GET /health, read before the request counts itself in flight. */
  healthBody: () => string;
}

/**
 * A bug found after an await must still crash the process. Rethrowing on a
 * fresh macrotask turns it into an uncaught exception, with its stack, instead
 * of a promise rejection somebody might swallow.
 */
function crashOnBug(error: unknown): void {
  setImmediate(() => {
    throw error;
  });
}

export function registerRoutes(app: TemplatedApp, context: RouteContext): void {
  const { ledger, book, served } = context;
  const replyFailure = (exchange: Exchange, failure: Failure) =>
    book.reply(exchange, failure.status, failure.body, failure === failures.bodyTooLarge);
  /** The last step of every handler: a ledger answer becomes a 200 or its failure. */
  const replyWith = <Result>(exchange: Exchange, result: Result | Failure, serialize: (value: Result) => string) => {
    if (result instanceof Failure) replyFailure(exchange, result);
    else book.reply(exchange, STATUS_OK, serialize(result), false);
  };

  app.post('/clientes/:id/transacoes', (response, request) => {
    const exchange = book.begin(response);
    served.transacoes++;
    const clientId = parseClientId(request.getParameter(0));
    const onBody = (body: Uint8Array) => {
      if (clientId === undefined) return replyFailure(exchange, failures.clientNotFound);
      const transaction = parseTransactionBody(body);
      if (transaction instanceof Failure) return replyFailure(exchange, transaction);
      exchange.awaitingLedger = true;
      ledger.registerTransaction(clientId, transaction)
        .then((result) => replyWith(exchange, result, serializeTransactionResult))
        .catch(crashOnBug);
    };
    readBody(exchange, request.getHeader('content-length'), onBody, () => replyFailure(exchange, failures.bodyTooLarge));
  });

  app.get('/clientes/:id/extrato', (response, request) => {
    const exchange = book.begin(response);
    served.extrato++;
    const clientId = parseClientId(request.getParameter(0));
    if (clientId === undefined) return replyFailure(exchange, failures.clientNotFound);
    exchange.awaitingLedger = true;
    ledger.readExtrato(clientId)
      .then((result) => replyWith(exchange, result, serializeExtrato))
      .catch(crashOnBug);
  });

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
