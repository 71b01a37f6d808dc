// The error catalogue (src/shared/failures.ts) is the one list of expected
// failures; docs/api.md's Errors table and docs/operating.md's table of 503s
// document it. Every code is documented with its status, and nothing
// documented is missing from the catalogue.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { failures, methodNotAllowed } from '../../src/shared/failures.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { OPENAPI_DOCUMENT } from '../../src/instance/http/openapi.js';

const api = fs.readFileSync(path.join(PROJECT_ROOT, 'docs', 'api.md'), 'utf8');
const operating = fs.readFileSync(path.join(PROJECT_ROOT, 'docs', 'operating.md'), 'utf8');
const catalogue = [...Object.values(failures), methodNotAllowed(['GET'])];

/** docs/api.md's Errors table: each row's status and the codes it names. */
function documented(): Map<string, number> {
  // From its heading to the next section's (or the end), wherever the file puts it.
  const start = api.indexOf('## Errors');
  expect(start, 'docs/api.md has an Errors section').toBeGreaterThanOrEqual(0);
  const next = api.indexOf('\n## ', start);
  const section = api.slice(start, next < 0 ? undefined : next);
  const codes = new Map<string, number>();
  for (const [, status, cell] of section.matchAll(/^\| (\d{3}) \| ([^|]*) \|/gm)) {
    for (const [, code] of cell!.matchAll(/`([a-z_]+)`/g)) codes.set(code!, Number(status));
  }
  return codes;
}

describe('the error catalogue and the docs', () => {
  it.each(
    catalogue
      .filter((failure) => !failure.status.startsWith('503'))
      .map((failure) => [failure.code, failure.status] as const),
  )('%s is in the Errors table with status %s', (code, status) => {
    expect(documented().get(code)).toBe(Number(status.slice(0, 3)));
  });

  it.each(
    catalogue
      .filter((failure) => failure.status.startsWith('503'))
      .map((failure) => [failure.code, failure.body] as const),
  )('503 %s is in the table of 503s, saying whether it may have been applied as its body does', (code, body) => {
    const row = new RegExp(`^\\| \`${code}\` \\|[^\\n]*\\| (\\**yes\\**|no)`, 'm').exec(operating);
    expect(row, `docs/operating.md's table of 503s has no row for ${code}`).not.toBeNull();
    expect(row![1]!.replaceAll('*', '') === 'yes').toBe(JSON.parse(body).pode_ter_sido_aplicada);
  });

  it('documents no code the catalogue lacks', () => {
    const known = new Set(catalogue.map((failure) => failure.code));
    expect([...documented().keys()].filter((code) => !known.has(code))).toEqual([]);
  });
});

// Regression: the codes nginx answers on any path (400, 414, 405 for an
// unknown method, 403 for plain HTTP refused) were in the docs and the
// catalogue but not in the API description a client is generated from.
describe('the error catalogue and the API description', () => {
  const description = JSON.stringify(OPENAPI_DOCUMENT);
  it.each(catalogue.map((failure) => [failure.code]))('%s is in the API description', (code) => {
    expect(description).toContain(`\`${code}\``);
  });
});
