// openapi.json: the API description the instances serve at GET /openapi.json
// (built in src/instance/http/openapi.ts), kept in the repository so that it can
// be read, diffed and fed to other tools without running anything.

import path from 'node:path';
import { OPENAPI_DOCUMENT } from '../../src/instance/http/openapi.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import type { GeneratedFile } from './generated-file.js';

export const OPENAPI_FILE: GeneratedFile = {
  path: path.join(PROJECT_ROOT, 'openapi.json'),
  what: 'the API description the instances serve',
  // The document, two-space indented, with a final newline.
  render: () => `${JSON.stringify(OPENAPI_DOCUMENT, null, 2)}\n`,
};
