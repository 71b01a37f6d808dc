// Owns registering the API's routes: one per operation of the list
// (src/instance/operations/index.ts), each with the handler its declaration
// gives. The request is counted in before its handler runs, under the
// operation's label; the 405s and the served counters of /health are
// derived from the same list; the API description and its page (docs.ts)
// and the probes (probes.ts) are routes of their own.

import { API_OPERATIONS } from '../operations/index.js';
import type { AnyApiOperation, RouteContext } from '../operations/declaration.js';
import { registerDocsRoutes } from './docs.js';
import { registerFallbacks } from './fallbacks.js';
import { registerProbeRoutes } from './probes.js';
import type { TemplatedApp } from './uws.js';

export type { RouteContext };

export function registerRoutes(
  app: TemplatedApp,
  context: RouteContext,
  operations: readonly AnyApiOperation[] = API_OPERATIONS,
): void {
  const { book, ledger } = context;
  for (const operation of operations) {
    const submit = (input: unknown) => ledger.submit(operation, input);
    app[operation.method](operation.path, (response, request) =>
      operation.handle(context, book.begin(response, operation.label), request, submit),
    );
  }
  registerDocsRoutes(app, book);
  registerProbeRoutes(app, context);
  registerFallbacks(app, book, operations);
}
