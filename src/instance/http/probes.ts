// Owns the routes for load balancers and operators: GET /health (the process
// is alive; no database) and GET /ready (the database answers), on the
// public listener and the admin one; ready also means the instance's whole
// pool is open and warm (ledger/warm-up.ts), and GET /metrics on the admin listener
// only (Prometheus's text format).

import { RETRY_LATER, STATUS } from '../../shared/failures.js';
import type { Ledger } from '../ledger/ledger.js';
import type { RequestBook } from './exchange.js';
import { registerFallbacks } from './fallbacks.js';
import type { TemplatedApp } from './uws.js';

export interface ProbeContext {
  ledger: Pick<Ledger, 'isReady'>;
  book: RequestBook;
  /** The body of GET /health, read before the request counts itself in flight. */
  healthBody: () => string;
  /** Why the instance serves but something operators must fix is wrong (backups): /ready still says 200. */
  degraded?: () => string[];
}

export interface AdminContext extends ProbeContext {
  metrics: { render(): Promise<string>; readonly contentType: string; readonly timing: { render(): string } };
}

export function registerProbeRoutes(app: TemplatedApp, { ledger, book, healthBody, degraded }: ProbeContext): void {
  // Touches no database: operators read pool numbers here, and the benchmark
  // uses it as the floor of what one HTTP round trip costs.
  app.get('/health', (response) => {
    const body = healthBody();
    book.reply(book.begin(response, 'health'), STATUS.ok, body);
  });
  // Never loads the database: the ledger answers from its breaker, from a
  // call that succeeded within the last second, or from one bounded probe.
  app.get('/ready', (response) => {
    const exchange = book.begin(response, 'ready');
    book.replyAfter(exchange, ledger.isReady(), (ready) => {
      const reasons = degraded?.() ?? [];
      if (ready)
        book.reply(
          exchange,
          STATUS.ok,
          reasons.length === 0 ? '{"pronto":true}' : JSON.stringify({ pronto: true, degradado: reasons }),
        );
      else
        book.reply(
          exchange,
          STATUS.unavailable,
          '{"pronto":false,"motivo":"the database is not answering, or the pool is not yet open and warm"}',
          { headers: RETRY_LATER },
        );
    });
  });
}

/** The admin listener's routes: the probes, /metrics, and the catalogue's 404 and 405 for anything else. */
export function registerAdminRoutes(app: TemplatedApp, context: AdminContext): void {
  const { book, metrics } = context;
  registerProbeRoutes(app, context);
  app.get('/metrics', (response) => {
    const exchange = book.begin(response, 'metrics');
    book.replyAfter(exchange, metrics.render(), (text) =>
      book.reply(exchange, STATUS.ok, text, { contentType: metrics.contentType }),
    );
  });
  // Each request's phases in fine buckets (timing.ts): a percentile to the microsecond, not a bucket of 1 or 5 ms.
  app.get('/timing', (response) => {
    book.reply(book.begin(response, 'timing'), STATUS.ok, metrics.timing.render());
  });
  // Without these an unknown path on this listener dropped the connection:
  // an operator's typo looked like a dead instance.
  registerFallbacks(app, book, ADMIN_ROUTES);
}

/** The admin listener's paths, for its 404 and 405 answers. */
const ADMIN_ROUTES = ['/health', '/ready', '/metrics', '/timing'].map((path) => ({ method: 'get', path }));
