// Owns the bookkeeping of requests in progress. Each request is one Exchange,
// counted in flight from its first callback until it is settled, exactly
// once: by its reply, or by its client leaving while nothing else waits on it.
// Draining (a stopping instance) waits on this count, so a request that
// settles twice, or never, is a bug this file must make impossible: a leak
// would make every later stop wait out its whole timeout. It also counts the
// requests served, by route, for /health.

import type { Header } from '../../shared/failures.js';
import { crashOnBug, invariant } from '../../shared/invariant.js';
import { INSTANCE_HEADER } from './headers.js';
import type { HttpResponse } from './uws.js';

const NO_HEADERS: readonly Header[] = [];
export const JSON_CONTENT_TYPE = 'application/json';

/** One request in progress: the response it owes, and where it stands. */
export class Exchange {
  /** The client left: nothing can be written any more. */
  aborted = false;
  /** Its answer is being worked out (replyAfter); leaving then does not settle it, the answer does. */
  awaitingAnswer = false;
  replied = false;
  settled = false;
  readonly startedMs = performance.now();
  /** When its ledger call was submitted, and when the ledger answered (performance.now(); 0: not yet, or none). */
  submittedMs = 0;
  answeredMs = 0;
  constructor(
    readonly response: HttpResponse,
    readonly route: string,
  ) {}
}

/** Told of every answer written, and when it was written (its route and start are the exchange's). */
export type OnAnswered = (exchange: Exchange, statusLine: string, repliedMs: number) => void;

export interface ReplyOptions {
  /** JSON unless said. */
  contentType?: string;
  /** Beyond content-type and INSTANCE_HEADER. */
  headers?: readonly Header[];
  /** Close the connection after this answer (a draining instance closes every one). */
  closeConnection?: boolean;
}

export class RequestBook {
  inFlight = 0;
  /** Set when the instance stops: every reply then closes its connection. */
  draining = false;
  /** Requests begun, by route; a route not counted on its own counts as `other`. */
  readonly served: Record<string, number>;
  private onIdle: (() => void) | undefined;

  constructor(
    private readonly instanceName: string,
    private readonly onAnswered: OnAnswered,
    countedRoutes: readonly string[] = [],
  ) {
    this.served = Object.fromEntries([...countedRoutes, 'other'].map((route) => [route, 0]));
  }

  /** Counts a request in; uWebSockets.js requires the abort handler before any asynchronous step. */
  begin(response: HttpResponse, route: string): Exchange {
    const exchange = new Exchange(response, route);
    response.onAborted(() => this.abort(exchange));
    this.inFlight++;
    this.served[Object.hasOwn(this.served, route) ? route : 'other']!++;
    return exchange;
  }

  /** Writes the reply (unless the client left) and settles the request. A second reply is a bug. */
  reply(exchange: Exchange, status: string, body: string | Uint8Array, options: ReplyOptions = {}): void {
    invariant(!exchange.replied, `a request was answered twice (second answer: ${status})`);
    exchange.replied = true;
    if (!exchange.aborted) {
      const { response } = exchange;
      // A draining instance asks each client to reconnect elsewhere.
      const close = options.closeConnection === true || this.draining;
      response.cork(() => {
        response
          .writeStatus(status)
          .writeHeader('content-type', options.contentType ?? JSON_CONTENT_TYPE)
          .writeHeader(INSTANCE_HEADER, this.instanceName);
        for (const [name, value] of options.headers ?? NO_HEADERS) response.writeHeader(name, value);
        response.end(body, close);
      });
      this.onAnswered(exchange, status, performance.now());
    }
    this.settle(exchange);
  }

  /**
   * Replies once pending settles (reply must answer exactly once). Until
   * then a client leaving does not settle the request: the answer does, and
   * writes nothing. A rejection is a bug, and crashes the process.
   */
  replyAfter<Value>(exchange: Exchange, pending: Promise<Value>, reply: (value: Value) => void): void {
    exchange.awaitingAnswer = true;
    exchange.submittedMs = performance.now();
    pending
      .then((value) => {
        exchange.answeredMs = performance.now();
        reply(value);
      })
      .catch(crashOnBug);
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
    if (!exchange.awaitingAnswer) this.settle(exchange);
  }

  private settle(exchange: Exchange): void {
    if (exchange.settled) return;
    exchange.settled = true;
    this.inFlight--;
    invariant(this.inFlight >= 0, 'more requests settled than began');
    if (this.inFlight === 0) this.onIdle?.();
  }
}
