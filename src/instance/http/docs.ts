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
  {
    route: '/docs/swagger-ui.css',
    contentType: 'text/css; charset=utf-8',
    file: require.resolve('swagger-ui-dist/swagger-ui.css'),
  },
  {
    route: '/docs/swagger-ui-bundle.js',
    contentType: 'text/javascript; charset=utf-8',
    file: require.resolve('swagger-ui-dist/swagger-ui-bundle.js'),
  },
];

// tryItOutEnabled is left to the reader's click; the document's server is
// this origin, so "try it out" calls the service that served the page. A
// file of its own, not an inline script: the page's policy runs no inline code.
const INIT_SCRIPT =
  "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n";

/**
 * The page's Content-Security-Policy: scripts, styles and fonts from this
 * origin only, none inline; images from here or data: URIs (Swagger UI's
 * icons are SVG data URIs in its CSS); fetches to this origin (the document
 * and "try it out"). No frames of it elsewhere (clickjacking), no <base>
 * rewriting, no form posts. Swagger UI sets element styles through the DOM,
 * which a policy does not govern, so style-src needs no 'unsafe-inline'.
 */
export const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
const PAGE_HEADERS: readonly Header[] = [
  ['content-security-policy', DOCS_CONTENT_SECURITY_POLICY],
  ['x-content-type-options', 'nosniff'],
];

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
<script src="/docs/init.js"></script>
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
  serve('/docs', 'text/html; charset=utf-8', () => PAGE, PAGE_HEADERS);
  serve('/docs/init.js', 'text/javascript; charset=utf-8', () => INIT_SCRIPT, CACHED);
  for (const asset of ASSETS) {
    serve(asset.route, asset.contentType, () => (asset.bytes ??= fs.readFileSync(asset.file)), CACHED);
  }
}
