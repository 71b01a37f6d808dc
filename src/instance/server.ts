// Owns the HTTP side of one API instance: the routes, reading request bodies
// under a byte cap, writing replies, and draining in-flight requests on stop.
// Every handler has the same shape: params -> body -> validate -> one ledger
// call -> reply. Nothing here keeps money state; the ledger is the database.

import { BODY_SIZE_BYTES_MAX } from '../shared/limits.js';
import { describeListenTarget, type ListenTarget } from '../shared/listen.js';
import { Failure, failures } from './errors.js';
import type { Ledger, PoolHealth } from './ledger.js';
import { serializeStatement, serializeTransactionResult } from './serializers.js';
import { uws, type HttpResponse, type us_listen_socket } from './uws.js';
import { parseClientId, parseTransactionBody } from './validation.js';

const STATUS_OK = '200 OK';

export interface ServerOptions {
  ledger: Ledger;
  instanceName: string;
}

export interface ServerHealth {
  instance: string;
  pid: number;
  inFlight: number;
  draining: boolean;
  served: { transacoes: number; extrato: number; other: number };
  pool: PoolHealth;
}

export interface Server {
  listen(target: ListenTarget): Promise<void>;
  /** Stops accepting connections and waits for in-flight requests, at most timeoutMs. */
  stop(timeoutMs: number): Promise<{ drained: boolean; inFlight: number }>;
  health(): ServerHealth;
}

/** One request in progress: the response it owes, and whether the peer left. */
class Exchange {
  aborted = false;
  finished = false;
  constructor(readonly response: HttpResponse) {}
  markAborted = (): void => {
    this.aborted = true;
  };
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

export function createServer(options: ServerOptions): Server {
  const { ledger, instanceName } = options;
  const app = uws.App();
  let listenSocket: us_listen_socket | undefined;
  let draining = false;
  let inFlight = 0;
  let onIdle: (() => void) | undefined;
  const served = { transacoes: 0, extrato: 0, other: 0 };

  function begin(response: HttpResponse): Exchange {
    const exchange = new Exchange(response);
    // uWebSockets.js requires the abort handler before any asynchronous step.
    response.onAborted(exchange.markAborted);
    inFlight++;
    return exchange;
  }

  function reply(exchange: Exchange, status: string, body: string, closeConnection = false): void {
    if (exchange.finished) return;
    exchange.finished = true;
    inFlight--;
    if (!exchange.aborted) {
      const { response } = exchange;
      // A draining instance asks each client to reconnect elsewhere.
      const close = closeConnection || draining;
      response.cork(() => {
        response
          .writeStatus(status)
          .writeHeader('content-type', 'application/json')
          .writeHeader('x-crebito-instance', instanceName)
          .end(body, close);
      });
    }
    if (inFlight === 0 && onIdle !== undefined) onIdle();
  }

  function replyFailure(exchange: Exchange, failure: Failure): void {
    reply(exchange, failure.status, failure.body, failure === failures.bodyTooLarge);
  }

  /** The last step of every handler: a ledger answer becomes a 200 or its failure. */
  function replyWith<Result>(exchange: Exchange, result: Result | Failure, serialize: (value: Result) => string): void {
    if (result instanceof Failure) replyFailure(exchange, result);
    else reply(exchange, STATUS_OK, serialize(result));
  }

  /**
   * Collects the body and hands it to onBody, unless it grows past
   * BODY_SIZE_BYTES_MAX, in which case the reply is a 413 and the connection
   * is closed so the rest of the upload is never read. A body that arrives in
   * one chunk is handed over without a copy; onBody must use it synchronously.
   */
  function readBody(exchange: Exchange, declaredLength: string, onBody: (body: Uint8Array) => void): void {
    if (declaredLength !== '' && !(Number(declaredLength) <= BODY_SIZE_BYTES_MAX)) {
      replyFailure(exchange, failures.bodyTooLarge);
      return;
    }
    let chunks: Buffer[] | undefined;
    let receivedBytes = 0;
    exchange.response.onData((chunk, isLast) => {
      if (exchange.finished) return;
      receivedBytes += chunk.byteLength;
      if (receivedBytes > BODY_SIZE_BYTES_MAX) {
        replyFailure(exchange, failures.bodyTooLarge);
        return;
      }
      if (isLast && chunks === undefined) {
        onBody(new Uint8Array(chunk));
        return;
      }
      // uWebSockets.js reuses the chunk's memory after this callback returns.
      (chunks ??= []).push(Buffer.from(chunk.slice(0)));
      if (isLast) onBody(Buffer.concat(chunks));
    });
  }

  app.post('/clientes/:id/transacoes', (response, request) => {
    const exchange = begin(response);
    served.transacoes++;
    const clientId = parseClientId(request.getParameter(0));
    readBody(exchange, request.getHeader('content-length'), (body) => {
      if (clientId === undefined) return replyFailure(exchange, failures.clientNotFound);
      const transaction = parseTransactionBody(body);
      if (transaction instanceof Failure) return replyFailure(exchange, transaction);
      ledger.registerTransaction(clientId, transaction)
        .then((result) => replyWith(exchange, result, serializeTransactionResult))
        .catch(crashOnBug);
    });
  });

  app.get('/clientes/:id/extrato', (response, request) => {
    const exchange = begin(response);
    served.extrato++;
    const clientId = parseClientId(request.getParameter(0));
    if (clientId === undefined) return replyFailure(exchange, failures.clientNotFound);
    ledger.readStatement(clientId)
      .then((result) => replyWith(exchange, result, serializeStatement))
      .catch(crashOnBug);
  });

  // Touches no database: operators read pool numbers here, and the benchmark
  // uses it as the floor of what one HTTP round trip costs.
  app.get('/health', (response) => {
    // Read before this request counts itself as in flight.
    const body = JSON.stringify(health());
    served.other++;
    reply(begin(response), STATUS_OK, body);
  });

  app.any('/*', (response) => {
    const exchange = begin(response);
    served.other++;
    replyFailure(exchange, failures.routeNotFound);
  });

  function health(): ServerHealth {
    return { instance: instanceName, pid: process.pid, inFlight, draining, served: { ...served }, pool: ledger.health() };
  }

  return {
    listen(target) {
      return new Promise((resolve, reject) => {
        const onListen = (socket: us_listen_socket | false) => {
          if (socket === false) {
            reject(new Error(`${instanceName} could not listen on ${describeListenTarget(target)}`));
            return;
          }
          listenSocket = socket;
          resolve();
        };
        if (target.kind === 'unix') app.listen_unix(onListen, target.path);
        else app.listen(target.host, target.port, onListen);
      });
    },

    stop(timeoutMs) {
      draining = true;
      if (listenSocket !== undefined) {
        uws.us_listen_socket_close(listenSocket);
        listenSocket = undefined;
      }
      if (inFlight === 0) return Promise.resolve({ drained: true, inFlight });
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ drained: false, inFlight }), timeoutMs);
        onIdle = () => {
          clearTimeout(timer);
          resolve({ drained: true, inFlight });
        };
      });
    },

    health,
  };
}
