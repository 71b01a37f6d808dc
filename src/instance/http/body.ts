// Owns reading a request body under BODY_SIZE_BYTES_MAX. A body that would
// pass the cap gets a 413 and its connection closed, so the rest of the upload
// is never read; a client that leaves mid-upload is settled by the
// RequestBook's abort handler, never by a callback here.

import { BODY_SIZE_BYTES_MAX } from '../../shared/limits.js';
import type { Exchange } from './exchange.js';

/**
 * Collects the body and hands it to onBody, or calls onTooLarge once. A body
 * that arrives in one chunk is handed over without a copy; onBody must use it
 * synchronously.
 */
export function readBody(
  exchange: Exchange,
  declaredLength: string,
  onBody: (body: Uint8Array) => void,
  onTooLarge: () => void,
): void {
  if (declaredLength !== '' && !(Number(declaredLength) <= BODY_SIZE_BYTES_MAX)) {
    onTooLarge();
    return;
  }
  let chunks: Buffer[] | undefined;
  let receivedBytes = 0;
  let done = false;
  exchange.response.onData((chunk, isLast) => {
    if (done) return;
    receivedBytes += chunk.byteLength;
    if (receivedBytes > BODY_SIZE_BYTES_MAX) {
      done = true;
      onTooLarge();
      return;
    }
    if (isLast && chunks === undefined) {
      done = true;
      onBody(new Uint8Array(chunk));
      return;
    }
    // uWebSockets.js reuses the chunk's memory after this callback returns.
    (chunks ??= []).push(Buffer.from(chunk.slice(0)));
    if (isLast) {
      done = true;
      onBody(Buffer.concat(chunks));
    }
  });
}
