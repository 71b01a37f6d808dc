// Owns the HTTP side of one API instance: the public listener (the API, and
// /health and /ready for probes), the admin listener (the same probes and
// /metrics, for operators and Prometheus, on an address of its own), and
// stopping in order. Nothing here keeps money state; the ledger is the
// database.

import { describeListenTarget, type ListenTarget } from '../../shared/listen.js';
import { invariant } from '../../shared/invariant.js';
import { RequestBook, type OnAnswered } from './exchange.js';
import type { Ledger, LedgerHealth } from '../ledger/ledger.js';
import { registerAdminRoutes, type AdminContext } from './probes.js';
import { OPERATION_LABELS } from '../operations/index.js';
import { registerRoutes, type RouteContext } from './routes.js';
import { uws, type TemplatedApp, type us_listen_socket } from './uws.js';
import type { BackupHealth } from '../../shared/backup-status.js';

export interface ServerOptions {
  ledger: Ledger;
  instanceName: string;
  /** Counts transactions by outcome, and prints every metric for /metrics. */
  metrics: RouteContext['metrics'] & AdminContext['metrics'];
  onAnswered: OnAnswered;
  /** The embedded database's backups, when the launcher keeps them: on the admin /health, /ready and /metrics. */
  backups?: () => BackupHealth;
}

/** What the public /health shows: whether the process serves, and how much. */
export interface PublicHealth {
  instance: string;
  inFlight: number;
  draining: boolean;
  /** Requests begun, by API route; every other request counts as `other`. */
  served: Record<string, number>;
}

/** What the admin /health shows, for operators: the public part, the pid, and the ledger's numbers. */
export interface ServerHealth extends PublicHealth {
  pid: number;
  ledger: LedgerHealth;
  backups?: BackupHealth;
}

export interface Server {
  listen(target: ListenTarget): Promise<void>;
  /** Serves the API on a private address for the instance's own warm-up; resolves with what stops listening there. */
  listenWarmUp(target: ListenTarget): Promise<() => void>;
  /** Serves /metrics, /health and /ready on an address of its own; resolves with the port it got (target may ask for 0: any). */
  listenAdmin(target: ListenTarget & { kind: 'tcp' }): Promise<number>;
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

function listenOn(app: TemplatedApp, target: ListenTarget, name: string): Promise<us_listen_socket> {
  return new Promise((resolve, reject) => {
    const onListen = (socket: us_listen_socket | false) => {
      if (socket === false) reject(new Error(`${name} could not listen on ${describeListenTarget(target)}`));
      else resolve(socket);
    };
    if (target.kind === 'unix') app.listen_unix(onListen, target.path);
    else app.listen(target.host, target.port, onListen);
  });
}

export function createServer(options: ServerOptions): Server {
  const { ledger, instanceName, metrics } = options;
  const apps: ClosableApp[] = [uws.App() as ClosableApp];
  const book = new RequestBook(instanceName, options.onAnswered, OPERATION_LABELS);
  const listenSockets: us_listen_socket[] = [];
  let stopped = false;

  const publicHealth = (): PublicHealth => ({
    instance: instanceName,
    inFlight: book.inFlight,
    draining: book.draining,
    served: { ...book.served },
  });
  const health = (): ServerHealth => ({
    ...publicHealth(),
    pid: process.pid,
    ledger: ledger.health(),
    ...(options.backups === undefined ? {} : { backups: options.backups() }),
  });
  // The public /health answers anyone who reaches the port: the pid and the
  // pool, queue and breaker numbers stay on the admin address.
  const context = { ledger, book, metrics, healthBody: () => JSON.stringify(publicHealth()) };
  const adminContext = {
    ...context,
    healthBody: () => JSON.stringify(health()),
    degraded: () => options.backups?.().degraded ?? [],
  };
  registerRoutes(apps[0]!, context);

  return {
    async listen(target) {
      listenSockets.push(await listenOn(apps[0]!, target, instanceName));
    },

    async listenWarmUp(target) {
      const socket = await listenOn(apps[0]!, target, `${instanceName} (warm-up)`);
      return () => uws.us_listen_socket_close(socket);
    },

    async listenAdmin(target) {
      const admin = uws.App() as ClosableApp;
      registerAdminRoutes(admin, adminContext);
      apps.push(admin);
      const socket = await listenOn(admin, target, `${instanceName} (admin)`);
      listenSockets.push(socket);
      return uws.us_socket_local_port(socket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
    },

    async stop(timeoutMs) {
      invariant(!stopped, 'the server was stopped twice');
      stopped = true;
      book.draining = true;
      for (const socket of listenSockets.splice(0)) uws.us_listen_socket_close(socket);
      const drained = await book.whenIdle(timeoutMs);
      // Idle keep-alive connections (nginx holds several) could still bring
      // a request after this, while the caller closes the database pool.
      // Closing every connection now means none can.
      for (const app of apps) app.close();
      return { drained, inFlight: book.inFlight };
    },

    health,
  };
}
