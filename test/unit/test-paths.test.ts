// Prose that names a test file (README, docs/, comments in src/, tools/, test/,
// docker-compose.yml) names one that exists: tests move between kinds and
// get renamed, and a pointer to a file that is gone sends a reader nowhere.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const SCANNED_FOLDERS = ['src', 'tools', 'test', 'sql', 'load', 'nginx', 'docs'];
const SCANNED_FILES = ['README.md', 'docker-compose.yml', 'Dockerfile', 'vitest.config.ts', '.ci/run'];
const TEST_PATH = /\btest\/[\w/.-]+\.test\.ts\b/g;

function filesUnder(folder: string): string[] {
  const full = path.join(PROJECT_ROOT, folder);
  if (!fs.existsSync(full)) return [];
  return fs.readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(PROJECT_ROOT, path.join(entry.parentPath, entry.name)));
}

function namedTestPaths(): [string, string][] {
  const files = [...SCANNED_FOLDERS.flatMap(filesUnder), ...SCANNED_FILES.filter((file) => fs.existsSync(path.join(PROJECT_ROOT, file)))];
  return files.flatMap((file) => [...fs.readFileSync(path.join(PROJECT_ROOT, file), 'utf8').matchAll(TEST_PATH)].map((match) => [file, match[0]] as [string, string]));
}

describe('test files named in prose', () => {
  it('finds some (the scan itself works)', () => {
    expect(namedTestPaths().length).toBeGreaterThan(5);
  });

  it('each exists', () => {
    const missing = namedTestPaths().filter(([, named]) => !fs.existsSync(path.join(PROJECT_ROOT, named))).map(([file, named]) => `${file}: ${named}`);
    expect(missing).toEqual([]);
  });
});
