// Regression: `npm run bench`, `check:ledger` and `keys`, which the docs
// say to run beside a live stack, began with `npm run build`, whose
// `rm -rf dist` removed the code the launcher restarts instances from: an
// instance restarted during the rebuild failed (counting towards the
// launcher's crash limit, which then stops the whole stack). Those scripts
// now compile over dist without removing it first.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const scripts = (
  JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;

/** A script's whole command, the scripts it runs with npm's `run` expanded. */
function expanded(name: string, seen = new Set<string>()): string {
  expect(scripts[name], `package.json has a script ${name}`).toBeDefined();
  if (seen.has(name)) return '';
  seen.add(name);
  return scripts[name]!.replace(/npm run ([\w:-]+)/g, (_, inner: string) => expanded(inner, seen));
}

describe('scripts run beside a live stack', () => {
  it.each(['bench', 'check:ledger', 'keys', 'bench:budget'])('%s never removes dist/', (name) => {
    expect(expanded(name)).toContain('tsc');
    expect(expanded(name)).not.toMatch(/rm -rf dist/);
  });

  it('the full build still starts from an empty dist/ (no stale files from removed sources)', () => {
    expect(expanded('build')).toMatch(/^rm -rf dist && /);
  });
});
