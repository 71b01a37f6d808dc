// Owns how an answer of the ledger or of the catalogue becomes a reply, so
// that no handler writes a status line or an error body by hand.

import { Failure, failures, STATUS, type Header } from '../../shared/failures.js';
import type { Exchange, RequestBook } from './exchange.js';

const NO_HEADERS: readonly Header[] = [];

/** A Failure of the catalogue, with the headers it carries (Retry-After, Allow) and any more. */
export function replyFailure(book: RequestBook, exchange: Exchange, failure: Failure, headers = NO_HEADERS): void {
  book.reply(exchange, failure.status, failure.body, {
    // The rest of a body past the cap is never read: the connection goes.
    closeConnection: failure === failures.bodyTooLarge,
    headers: headers.length === 0 ? failure.headers : [...failure.headers, ...headers],
  });
}

/** A ledger answer: a result (200) or a Failure. */
export function replyWith<Result>(
  book: RequestBook,
  exchange: Exchange,
  result: Result | Failure,
  serialize: (value: Result) => string,
  headers = NO_HEADERS,
): void {
  if (result instanceof Failure) replyFailure(book, exchange, result, headers);
  else book.reply(exchange, STATUS.ok, serialize(result), { headers });
}
