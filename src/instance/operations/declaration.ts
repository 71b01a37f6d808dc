// Owns the shape of an operation's one declaration: everything about a kind
// of request, in one object. Each file of this folder declares one, and
// index.ts lists them; from that list come the routes (and their 405s), the
// ledger's batchers and connection classes, the warm-up of every
// connection, the API description's paths, /health's and the metrics'
// labels, and the tests that hold the grants (sql/07-privileges.sql) to the
// SQL functions the queries call. How to add one: docs/development.md.

import { Failure, failures } from '../../shared/failures.js';
import { authorize, type Access } from '../http/auth.js';
import type { Exchange, RequestBook } from '../http/exchange.js';
import { replyFailure, replyWith } from '../http/replies.js';
import type { HttpRequest } from '../http/uws.js';
import { parseClientId } from '../http/validation.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Operation } from '../ledger/operation.js';

export interface RouteContext {
  ledger: Ledger;
  book: RequestBook;
  metrics: {
    transaction(tipo: 'c' | 'd', result: 'applied' | 'refused'): void;
    transfer(result: 'applied' | 'refused'): void;
  };
  /** The body of GET /health, read before the request counts itself in flight. */
  healthBody: () => string;
}

/**
 * An operation's handler, given its request already counted in, and the
 * ledger call of this very operation. Its shape: params -> body -> validate
 * -> one call -> reply; it reads what it needs from the request
 * synchronously (uWebSockets.js frees it on return) and ends through
 * http/replies.ts or book.replyAfter, so that each exit path settles the
 * request exactly once.
 */
export type Handle<Input, Answer> = (
  context: RouteContext,
  exchange: Exchange,
  request: HttpRequest,
  submit: (input: Input) => Promise<Answer>,
) => void;

export interface ApiOperation<Input, Answer> extends Operation<Input, Answer> {
  readonly method: 'get' | 'post';
  /** As uWebSockets.js matches it: `:id` is the client. */
  readonly path: string;
  /** What an API key must allow (CREBITO_AUTH=keys). */
  readonly access: Access;
  readonly handle: Handle<Input, Answer>;
  /** Its OpenAPI operation object, with its answer's schema (http/api-description.ts builds its parts). */
  readonly description: object;
}

/** An operation of any input and answer, as the list holds them. */
export type AnyApiOperation = ApiOperation<any, any>;

/** The handler of a read that needs nothing but the client: the id is its input, its answer written by serialize. */
export function clientRead<Answer>(serialize: (answer: Exclude<Answer, Failure>) => string): Handle<number, Answer> {
  return ({ ledger, book }, exchange, request, submit) => {
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
    book.replyAfter(exchange, submit(clientId), (answer) =>
      replyWith(book, exchange, answer as Exclude<Answer, Failure> | Failure, serialize),
    );
  };
}
