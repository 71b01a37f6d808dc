// No function in the service or its tools runs past FUNCTION_LINES_MAX lines,
// factory functions and closures included: a reader should see each whole.
// (test/support/function-lengths.ts measures them.)

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { measureFunctions } from '../support/function-lengths.js';

const FUNCTION_LINES_MAX = 70;

function sourceFiles(directory: string): string[] {
  return fs
    .readdirSync(path.join(PROJECT_ROOT, directory), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(PROJECT_ROOT, path.join(entry.parentPath, entry.name)));
}

describe('function length', () => {
  it.each([...sourceFiles('src'), ...sourceFiles('tools')])('%s has no function over 70 lines', (file) => {
    const long = measureFunctions(fs.readFileSync(path.join(PROJECT_ROOT, file), 'utf8'))
      .filter((found) => found.lines > FUNCTION_LINES_MAX)
      .map((found) => `line ${found.line}: ${found.lines} lines: ${found.head}`);
    expect(long).toEqual([]);
  });

  it('the measure sees a long function, and is not fooled by braces in strings, templates or regular expressions', () => {
    const body = Array.from({ length: 80 }, (_, index) => `  const a${index} = '{' + \`\${'}'}\` + /\\{/.source;`).join(
      '\n',
    );
    const [found] = measureFunctions(`export function long(): void {\n${body}\n}\n`);
    expect(found).toMatchObject({ line: 1, lines: 82 });
  });
});

/** The files a tree of docs/development.md names: each line is a name indented two spaces deeper than its folder's. */
function filesOfTree(tree: string): string[] {
  const folders: string[] = [];
  const files: string[] = [];
  for (const line of tree.split('\n').filter((text) => text.trim() !== '')) {
    const depth = (line.length - line.trimStart().length) / 2;
    const name = line.trim().split(/\s+/)[0]!;
    folders.length = depth;
    if (name.endsWith('/')) folders.push(name.slice(0, -1));
    else files.push([...folders, name].join('/'));
  }
  return files;
}

/**
 * The tree's files with each `*.ts` line expanded: it stands for every file
 * of its folder the tree does not name on a line of its own (a folder of one
 * file per operation, say, where a new one needs no line). A glob that
 * matches nothing is kept as named, so it fails like a file that is gone.
 */
function expandGlobs(named: string[], actual: string[]): string[] {
  const explicit = named.filter((file) => !file.endsWith('/*.ts'));
  const globbed = named
    .filter((file) => file.endsWith('/*.ts'))
    .flatMap((glob) => {
      const folder = glob.slice(0, -'*.ts'.length);
      const inFolder = (file: string) => file.startsWith(folder) && !file.slice(folder.length).includes('/');
      const matched = actual.filter((file) => inFolder(file) && !explicit.includes(file));
      return matched.length === 0 ? [glob] : matched;
    });
  return [...explicit, ...globbed];
}

describe("docs/development.md's source layout", () => {
  it('its tree names every file of src/, and no file that is gone', () => {
    const development = fs.readFileSync(path.join(PROJECT_ROOT, 'docs', 'development.md'), 'utf8');
    const tree = /<!-- layout:start -->\n```text\n([^`]*)```\n<!-- layout:end -->/.exec(development)?.[1] ?? '';
    expect(filesOfTree(tree).length, 'docs/development.md has a layout tree between its markers').toBeGreaterThan(0);
    expect(expandGlobs(filesOfTree(tree), sourceFiles('src')).sort()).toEqual(sourceFiles('src').sort());
  });

  it('a `*.ts` line stands for the files its folder does not name, and fails when there are none', () => {
    const actual = ['src/a/index.ts', 'src/a/one.ts', 'src/a/two.ts', 'src/a/b/deep.ts'];
    expect(expandGlobs(['src/a/index.ts', 'src/a/*.ts', 'src/a/b/deep.ts'], actual).sort()).toEqual([...actual].sort());
    expect(expandGlobs(['src/c/*.ts'], actual)).toEqual(['src/c/*.ts']);
  });
});
