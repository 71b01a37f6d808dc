// Owns serving the API's description: the OpenAPI document at
// GET /openapi.json (built by openapi.ts) and an interactive page at
// GET /docs, Swagger UI from the swagger-ui-dist package, served by the
// instance itself (no CDN: the page works where the service does). None of
// these touch the database.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import { STATUS, type Header } from '../../shared/failures.js';
import type { RequestBook } from './exchange.js';
import { OPENAPI_DOCUMENT } from './openapi.js';
import type { TemplatedApp } from './uws.js';

const require = createRequire(import.meta.url);

// The page's assets change only with the swagger-ui-dist version.
const CACHED: readonly Header[] = [['cache-control', 'public, max-age=3600']];

interface Asset {
  route: string;
  contentType: string;
  /** Resolved at start, so a missing package stops the instance at once; read on first use. */
  file: string;
  bytes?: Buffer;
}

const ASSETS: Asset[] = [
  { route: '/docs/swagger-ui.css', contentType: 'text/css; charset=utf-8', file: require.resolve('swagger-ui-dist/swagger-ui.css') },
  { route: '/docs/swagger-ui-bundle.js', contentType: 'text/javascript; charset=utf-8', file: require.resolve('swagger-ui-dist/swagger-ui-bundle.js') },
];

// tryItOutEnabled is left to the reader's click; the document's server is
// this origin, so "try it out" calls the service that served the page.
const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>crebito API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });</script>
</body>
</html>
`;

const DOCUMENT_BODY = JSON.stringify(OPENAPI_DOCUMENT);

export function registerDocsRoutes(app: TemplatedApp, book: RequestBook): void {
  const serve = (route: string, contentType: string, body: () => string | Buffer, headers: readonly Header[]) => {
    app.get(route, (response) => {
      book.reply(book.begin(response, 'docs'), STATUS.ok, body(), { contentType, headers });
    });
  };
  serve('/openapi.json', 'application/json', () => DOCUMENT_BODY, []);
  serve('/docs', 'text/html; charset=utf-8', () => PAGE, []);
  for (const asset of ASSETS) {
    serve(asset.route, asset.contentType, () => (asset.bytes ??= fs.readFileSync(asset.file)), CACHED);
  }
}
