// `npm run openapi`: writes openapi.json, the API description the instances
// serve at GET /openapi.json (built in src/instance/openapi.ts), into the
// repository, so that it can be read, diffed and fed to other tools without
// running anything. test/instance/openapi.test.ts fails while the file is stale.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OPENAPI_DOCUMENT } from '../../src/instance/openapi.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

export const OPENAPI_FILE = path.join(PROJECT_ROOT, 'openapi.json');

/** The file's exact text: the document, two-space indented, with a final newline. */
export function renderOpenApiFile(): string {
  return `${JSON.stringify(OPENAPI_DOCUMENT, null, 2)}\n`;
}

// Run as a program it writes the file; imported (by the test) it only renders it.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.writeFileSync(OPENAPI_FILE, renderOpenApiFile());
  console.log(`wrote ${OPENAPI_FILE}`);
}
