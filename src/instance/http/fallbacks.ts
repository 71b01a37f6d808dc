// Owns the answers to requests no route takes: a known path asked with
// another method is a 405 naming the methods it answers (derived from the
// routes themselves), and anything else a 404.

import { failures, methodNotAllowed } from '../../shared/failures.js';
import type { RequestBook } from './exchange.js';
import { replyFailure } from './replies.js';
import type { HttpResponse, TemplatedApp } from './uws.js';

/** Registered after every route: uWebSockets.js prefers a method's own handler over `any` on the same path. */
export function registerFallbacks(
  app: TemplatedApp,
  book: RequestBook,
  routes: readonly { method: string; path: string }[],
): void {
  const methodsByPath = new Map<string, string[]>();
  for (const { method, path } of routes)
    methodsByPath.set(path, [...(methodsByPath.get(path) ?? []), method.toUpperCase()].sort());
  for (const [path, methods] of methodsByPath) {
    const failure = methodNotAllowed(methods);
    app.any(path, (response: HttpResponse) => replyFailure(book, book.begin(response, 'other'), failure));
  }
  app.any('/*', (response) => replyFailure(book, book.begin(response, 'other'), failures.routeNotFound));
}
