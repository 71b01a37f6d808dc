// Every checked-in generated file (tools/generate/) is exactly what its
// generator makes of today's facts: one fails here while it is stale, until
// `npm run generate` rewrites it.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { PUBLISHED_END, PUBLISHED_FILE, PUBLISHED_START, withPublishedRun } from '../../tools/bench/report/publish.js';
import { expectedText, GENERATED_FILES } from '../../tools/generate/main.js';
import { SETTINGS_TABLE_FILE } from '../../tools/generate/settings-table.js';

describe('generated files', () => {
  it.each(GENERATED_FILES.map((file) => [path.relative(PROJECT_ROOT, file.path), file] as const))(
    '%s is up to date (npm run generate)',
    (_name, file) => {
      const { current, expected } = expectedText(file);
      expect(current, `${file.what} is stale: run npm run generate`).toBe(expected);
    },
  );

  it('a generator keeps what it does not own: docs/operating.md outside its settings table', () => {
    const operating = GENERATED_FILES.find((file) => file.path === SETTINGS_TABLE_FILE)!;
    const edited = `before\n<!-- settings:start -->\nstale\n<!-- settings:end -->\nafter\n`;
    const rendered = operating.render(edited);
    expect(rendered.startsWith('before\n<!-- settings:start -->\n| variable |')).toBe(true);
    expect(rendered.endsWith('\n<!-- settings:end -->\nafter\n')).toBe(true);
    expect(rendered).not.toContain('stale');
  });
});

// The bench writes its last run into docs/performance.md (`npm run bench -- --publish`), between markers, with
// the chart's link made relative to docs/; a document without the markers is refused rather than appended
// to.
describe("the bench's published run", () => {
  const report = '# crebito benchmark\n\nRun today.\n\n![chart](bench-durable.svg)\n';

  it('replaces what is between the markers of docs/performance.md, and nothing else', () => {
    const current = fs.readFileSync(PUBLISHED_FILE, 'utf8');
    const published = withPublishedRun(current, report);
    const before = current.slice(0, current.indexOf(PUBLISHED_START));
    expect(published.startsWith(before)).toBe(true);
    const section = 'Run today.\n\n![chart](../results/bench-durable.svg)';
    expect(published).toContain(`${PUBLISHED_START}\n${section}\n${PUBLISHED_END}`);
    expect(published.endsWith(current.slice(current.indexOf(PUBLISHED_END)))).toBe(true);
  });

  it('refuses a document without its markers', () => {
    expect(() => withPublishedRun('no markers here\n', report)).toThrow(/has no <!-- bench:start -->/);
  });
});
