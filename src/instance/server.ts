// Owns the HTTP side of one API instance: listening, the routes (routes.ts),
// and stopping in order. Nothing here keeps money state; the ledger is the
// database.

import { describeListenTarget, type ListenTarget } from '../shared/listen.js';
import { invariant } from './errors.js';
import { RequestBook } from './exchange.js';
import type { Ledger, LedgerHealth } from './ledger.js';
import { registerRoutes } from './routes.js';
import { uws, type TemplatedApp, type us_listen_socket } from './uws.js';

export interface ServerOptions {
  ledger: Ledger;
  instanceName: string;
}

export interface ServerHealth {
  instance: string;
  pid: number;
  inFlight: number;
  draining: boolean;
  served: { transacoes: number; extrato: number; historico: number; other: number };
  pool: LedgerHealth;
}

export interface Server {
  listen(target: ListenTarget): Promise<void>;
  /**
   * Stops accepting connections, waits for in-flight requests (at most
   * timeoutMs), then closes every connection still open. Called once.
   */
  stop(timeoutMs: number): Promise<{ drained: boolean; inFlight: number }>;
  health(): ServerHealth;
}

// The native binding closes every socket, listening or connected, with
// close(); the type declarations of this build lack it.
type ClosableApp = TemplatedApp & { close(): void };

export function createServer(options: ServerOptions): Server {
  const { ledger, instanceName } = options;
  const app = uws.App() as ClosableApp;
  const book = new RequestBook(instanceName);
  const served = { transacoes: 0, extrato: 0, historico: 0, other: 0 };
  let listenSocket: us_listen_socket | undefined;
  let stopped = false;

  const health = (): ServerHealth => ({
    instance: instanceName, pid: process.pid, inFlight: book.inFlight, draining: book.draining, served: { ...served }, pool: ledger.health(),
  });
  registerRoutes(app, { ledger, book, served, healthBody: () => JSON.stringify(health()) });

  return {
    listen(target) {
      return new Promise((resolve, reject) => {
        const onListen = (socket: us_listen_socket | false) => {
          if (socket === false) return reject(new Error(`${instanceName} could not listen on ${describeListenTarget(target)}`));
          listenSocket = socket;
          resolve();
        };
        if (target.kind === 'unix') app.listen_unix(onListen, target.path);
        else app.listen(target.host, target.port, onListen);
      });
    },

    async stop(timeoutMs) {
      invariant(!stopped, 'the server was stopped twice');
      stopped = true;
      book.draining = true;
      if (listenSocket !== undefined) uws.us_listen_socket_close(listenSocket);
      listenSocket = undefined;
      const drained = await book.whenIdle(timeoutMs);
      // Idle keep-alive connections (nginx holds several) could still bring
      // a request after this, while the caller closes the database pool.
      // Closing every connection now means none can.
      app.close();
      return { drained, inFlight: book.inFlight };
    },

    health,
  };
}
