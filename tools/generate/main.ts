// `npm run generate`: rewrites every checked-in file made from facts declared
// elsewhere, so that it cannot be edited by hand into disagreement with them.
// Run it after changing a setting, the nginx template, the API description or
// a bench report in results/; test/unit/generated-files.test.ts fails while
// any file is stale.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { DOCKER_NGINX_FILE } from './docker-nginx.js';
import type { GeneratedFile } from './generated-file.js';
import { OPENAPI_FILE } from './openapi.js';
import { PUBLISHED_RUN_FILE } from './published-run.js';
import { OPERATING_SETTINGS_TABLE } from './settings-table.js';

export const GENERATED_FILES: readonly GeneratedFile[] = [
  DOCKER_NGINX_FILE,
  OPENAPI_FILE,
  OPERATING_SETTINGS_TABLE,
  PUBLISHED_RUN_FILE,
];

/** The file's text as it should be, given its text now (empty when it does not exist yet). */
export function expectedText(file: GeneratedFile): { current: string; expected: string } {
  const current = fs.existsSync(file.path) ? fs.readFileSync(file.path, 'utf8') : '';
  return { current, expected: file.render(current) };
}

function generate(): void {
  for (const file of GENERATED_FILES) {
    const { current, expected } = expectedText(file);
    const name = path.relative(PROJECT_ROOT, file.path);
    if (current === expected) {
      console.log(`${name}: up to date (${file.what})`);
      continue;
    }
    fs.writeFileSync(file.path, expected);
    console.log(`${name}: rewritten (${file.what})`);
  }
}

// Run as a program it writes the files; imported (by the tests) it only renders them.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) generate();
