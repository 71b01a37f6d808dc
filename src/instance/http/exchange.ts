// Owns the bookkeeping of requests in progress. Each request is one Exchange,
// counted in flight from its first callback until it is settled, exactly
// once: by its reply, or by its client leaving while nothing else waits on it.
// Draining (a stopping instance) waits on this count, so a request that
// settles twice, or never, is a bug this file must make impossible: a leak
// would make every later stop wait out its whole timeout.

import { invariant } from '../../shared/invariant.js';
import type { HttpResponse } from './uws.js';

/** A response header beyond the ones every reply carries. */
export type Header = readonly [name: string, value: string];
const NO_HEADERS: readonly Header[] = [];
export const JSON_CONTENT_TYPE = 'application/json';

/** One request in progress: the response it owes, and where it stands. */
export class Exchange {
  /** The client left: nothing can be written any more. */
  aborted = false;
  /** It waits on the ledger; leaving then does not settle it, the ledger's answer does. */
  awaitingLedger = false;
  replied = false;
  settled = false;
  readonly startedMs = performance.now();
  constructor(readonly response: HttpResponse, readonly route: string) {}
}

/** Told of every answer written, with the time since the request's first callback. */
export type OnAnswered = (route: string, statusLine: string, seconds: number) => void;

export class RequestBook {
  inFlight = 0;
  /** Set when the instance stops: every reply then closes its connection. */
  draining = false;
  private onIdle: (() => void) | undefined;

  constructor(private readonly instanceName: string, private readonly onAnswered: OnAnswered) {}

  /** Counts a request in; uWebSockets.js requires the abort handler before any asynchronous step. */
  begin(response: HttpResponse, route: string): Exchange {
    const exchange = new Exchange(response, route);
    response.onAborted(() => this.abort(exchange));
    this.inFlight++;
    return exchange;
  }

  /** Writes the reply (unless the client left) and settles the request. A second reply is a bug. */
  reply(exchange: Exchange, status: string, body: string | Uint8Array, closeConnection: boolean,
    contentType = JSON_CONTENT_TYPE, headers: readonly Header[] = NO_HEADERS): void {
    invariant(!exchange.replied, `a request was answered twice (second answer: ${status})`);
    exchange.replied = true;
    if (!exchange.aborted) {
      const { response } = exchange;
      // A draining instance asks each client to reconnect elsewhere.
      const close = closeConnection || this.draining;
      response.cork(() => {
        response
          .writeStatus(status)
          .writeHeader('content-type', contentType)
          .writeHeader('x-crebito-instance', this.instanceName);
        for (const [name, value] of headers) response.writeHeader(name, value);
        response.end(body, close);
      });
      this.onAnswered(exchange.route, status, (performance.now() - exchange.startedMs) / 1000);
    }
    this.settle(exchange);
  }

  /** Resolves true once nothing is in flight, or false after timeoutMs. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    invariant(this.onIdle === undefined, 'whenIdle() is already waiting');
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private abort(exchange: Exchange): void {
    exchange.aborted = true;
    // Mid-upload or before any work, nothing will answer it any more.
    if (!exchange.awaitingLedger) this.settle(exchange);
  }

  private settle(exchange: Exchange): void {
    if (exchange.settled) return;
    exchange.settled = true;
    this.inFlight--;
    invariant(this.inFlight >= 0, 'more requests settled than began');
    if (this.inFlight === 0) this.onIdle?.();
  }
}
