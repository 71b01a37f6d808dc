// Prose that names a file, a heading or a script names one that exists: the
// README and docs/ in full, and the comments of src/, sql/, tools/, test/,
// nginx/, docker/ and load/ (and of the root's Dockerfile, compose files,
// vitest.config.ts and .ci/run). Files move, sections move between documents
// and scripts get renamed; a pointer to something gone sends a reader
// nowhere. What counts as a citation: test/support/citations.ts.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { anchorsOf, brokenReason, citationsIn, proseOf } from '../support/citations.js';

const SCANNED_FOLDERS = ['src', 'sql', 'tools', 'test', 'nginx', 'docker', 'load', 'docs'];
const SCANNED_FILES = [
  'README.md',
  'Dockerfile',
  'docker-compose.yml',
  'docker-compose.ha.yml',
  'vitest.config.ts',
  '.ci/run',
];
const SCANNED_NAME = /\.(md|ts|js|cjs|mjs|sql|lua|sh|conf|template|ya?ml)$|^[^.]+$/;
const packageJson = fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8');
const scripts = (JSON.parse(packageJson) as { scripts: Record<string, string> }).scripts;

const read = (file: string) => fs.readFileSync(path.join(PROJECT_ROOT, file), 'utf8');

function filesUnder(folder: string): string[] {
  const full = path.join(PROJECT_ROOT, folder);
  if (!fs.existsSync(full)) return [];
  return fs
    .readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && SCANNED_NAME.test(entry.name))
    .map((entry) => path.relative(PROJECT_ROOT, path.join(entry.parentPath, entry.name)));
}

function scannedFiles(): string[] {
  const rootFiles = SCANNED_FILES.filter((file) => fs.existsSync(path.join(PROJECT_ROOT, file)));
  return [...SCANNED_FOLDERS.flatMap(filesUnder), ...rootFiles];
}

/** Every citation that leads nowhere, as `file: why`. */
function broken(files: string[]): string[] {
  return files.flatMap((file) =>
    citationsIn(file, read(file))
      .map((citation) => brokenReason(PROJECT_ROOT, citation, scripts))
      .filter((reason) => reason !== undefined)
      .map((reason) => `${file}: ${reason}`),
  );
}

describe('what prose cites', () => {
  it('finds paths, links and scripts (the scan itself works)', () => {
    const kinds = scannedFiles().flatMap((file) => citationsIn(file, read(file)).map((citation) => citation.kind));
    expect(kinds.filter((kind) => kind === 'path').length).toBeGreaterThan(100);
    expect(kinds.filter((kind) => kind === 'link').length).toBeGreaterThan(20);
    expect(kinds.filter((kind) => kind === 'script').length).toBeGreaterThan(10);
  });

  it('each exists: file, line, heading and npm script', () => {
    expect(broken(scannedFiles())).toEqual([]);
  });
});

describe('the scan', () => {
  // In code, not a comment: the scan reads this file's comments only.
  const readme = [
    'See `src/gone.ts:3`, `sql/01-schema.sql:99999`, [a](docs/missing.md), [b](docs/api.md#no-such-heading),',
    '`npm run nothing`, `dist/tools/gone/main.js`, `results/bench-<mode>.md`, `results/ha-cost-{1,2}.md`, nginx/1.22.',
  ].join('\n');

  it('reports a missing file or line, link or heading, an unknown script, a compiled path without its source', () => {
    const reasons = citationsIn('README.md', readme).map((each) => brokenReason(PROJECT_ROOT, each, scripts));
    expect(reasons.filter(Boolean)).toEqual([
      'src/gone.ts: no such file',
      expect.stringMatching(/^sql\/01-schema\.sql:99999: the file has \d+ lines$/),
      'tools/gone/main.ts: no such file',
      'npm run nothing: no such script',
      'docs/missing.md: no such file',
      'docs/api.md#no-such-heading: no such heading',
    ]);
  });

  it("reads code for its comments only, and a link relative to the document's folder", () => {
    const comment = ['//', 'see'].join(' ');
    expect(proseOf('a.ts', `const p = 'a string'; ${comment} a comment\n`)).toBe(' see a comment');
    expect(proseOf('a.sql', 'SELECT 1; -- a comment\n')).toBe(' a comment');
    expect(proseOf('nginx.conf.template', '  # a comment\nlisten 80;\n')).toBe(' a comment');
    expect(citationsIn('docs/a.md', '[r](../README.md#run-it)')).toEqual([
      { kind: 'link', path: 'README.md', anchor: 'run-it' },
    ]);
  });

  it('names headings as GitHub does', () => {
    const markdown = '# A b\n## Cost, measured (goals)\n```sh\n# not a heading\n```\n### `npm run bench`\n## A b\n';
    expect([...anchorsOf(markdown)]).toEqual(['a-b', 'cost-measured-goals', 'npm-run-bench', 'a-b-1']);
  });
});
