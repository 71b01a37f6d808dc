// Owns the names of the headers crebito's own API adds to the contract:
// the request header that carries an idempotency key, the response header
// that marks a replay, and the one that names the instance that answered. The validation, the replies and the API
// description all read them here. Also reading that one request header:
// getHeader returns only the first of several, and a request with two keys
// must not be applied under whichever one came first.

import { failures, type Failure } from '../../shared/failures.js';
import type { HttpRequest } from './uws.js';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/** On every answer of an instance: its name (CREBITO_INSTANCE_NAME). Lower case, as uWebSockets.js writes it. */
export const INSTANCE_HEADER = 'x-crebito-instance';

const IDEMPOTENCY_KEY_HEADER_LOWER = IDEMPOTENCY_KEY_HEADER.toLowerCase();

/**
 * The Idempotency-Key header's raw value ('' when absent), or a 400 when the
 * request carries it more than once. forEach sees every header line; nginx
 * 1.22 forwards only the first of several, nginx 1.23 on joins them (a value
 * the validation refuses), and a request sent to an instance without nginx
 * arrives as the client wrote it. Read synchronously, like every header.
 */
export function readIdempotencyKeyHeader(request: HttpRequest): string | Failure {
  let seen = 0;
  request.forEach((name) => {
    if (name === IDEMPOTENCY_KEY_HEADER_LOWER) seen++;
  });
  return seen > 1 ? failures.duplicateIdempotencyKey : request.getHeader(IDEMPOTENCY_KEY_HEADER_LOWER);
}
