// Every checked-in generated file (tools/generate/) is exactly what its
// generator makes of today's facts: one fails here while it is stale, until
// `npm run generate` rewrites it.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { expectedText, GENERATED_FILES } from '../../tools/generate/main.js';

describe('generated files', () => {
  it.each(GENERATED_FILES.map((file) => [path.relative(PROJECT_ROOT, file.path), file] as const))('%s is up to date (npm run generate)', (_name, file) => {
    const { current, expected } = expectedText(file);
    expect(current, `${file.what} is stale: run npm run generate`).toBe(expected);
  });

  it('a generator keeps what it does not own: README.md outside its settings table', () => {
    const readme = GENERATED_FILES.find((file) => file.path.endsWith('README.md'))!;
    const edited = `before\n<!-- settings:start -->\nstale\n<!-- settings:end -->\nafter\n`;
    const rendered = readme.render(edited);
    expect(rendered.startsWith('before\n<!-- settings:start -->\n| variable |')).toBe(true);
    expect(rendered.endsWith('\n<!-- settings:end -->\nafter\n')).toBe(true);
    expect(rendered).not.toContain('stale');
  });
});
