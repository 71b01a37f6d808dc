// Every TypeScript file is as the formatter writes it (`npm run format`), and
// no line runs past LINE_CHARS_MAX: the formatter wraps code at 120
// characters but leaves a long string or comment whole, so this limit is
// what holds those.

import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const LINE_CHARS_MAX = 160;
const FOLDERS = ['src', 'tools', 'test', 'load'];

function formattedFiles(): string[] {
  const roots = fs.readdirSync(PROJECT_ROOT).filter((name) => name.endsWith('.ts'));
  const nested = FOLDERS.flatMap((folder) =>
    fs
      .readdirSync(path.join(PROJECT_ROOT, folder), { withFileTypes: true, recursive: true })
      .filter((entry) => entry.isFile() && /\.(ts|js)$/.test(entry.name))
      .map((entry) => path.relative(PROJECT_ROOT, path.join(entry.parentPath, entry.name))),
  );
  return [...roots, ...nested];
}

async function isFormatted(file: string, text: string): Promise<boolean> {
  const options = await prettier.resolveConfig(path.join(PROJECT_ROOT, file));
  return prettier.check(text, { ...options, filepath: file });
}

describe('formatting', () => {
  it('every TypeScript and JavaScript file is as `npm run format` writes it', async () => {
    const unformatted: string[] = [];
    for (const file of formattedFiles()) {
      if (!(await isFormatted(file, fs.readFileSync(path.join(PROJECT_ROOT, file), 'utf8')))) unformatted.push(file);
    }
    expect(unformatted).toEqual([]);
  });

  it(`no line of code, SQL or config runs past ${LINE_CHARS_MAX} characters`, () => {
    const long: string[] = [];
    for (const file of [...formattedFiles(), ...sqlFiles()]) {
      fs.readFileSync(path.join(PROJECT_ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (line.length > LINE_CHARS_MAX) long.push(`${file}:${index + 1} (${line.length})`);
        });
    }
    expect(long).toEqual([]);
  });

  it('the check can fail: a file written by hand on one line is not formatted', async () => {
    expect(await isFormatted('src/example.ts', 'const a = {b:1,\n c:2}\n')).toBe(false);
    expect(await isFormatted('src/example.ts', 'const a = { b: 1, c: 2 };\n')).toBe(true);
  });
});

function sqlFiles(): string[] {
  return fs
    .readdirSync(path.join(PROJECT_ROOT, 'sql'), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.sql'))
    .map((entry) => path.relative(PROJECT_ROOT, path.join(entry.parentPath, entry.name)));
}
