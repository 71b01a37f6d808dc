// No module of the service or its tools imports itself, through however many
// others: a reader can then read each folder from the bottom up, and a type
// import counts as much as any other (it ties the two files' meanings). The
// walk reads every import and re-export under src/ and tools/ that names a
// relative path, resolves it to its file, and reports every cycle it finds.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const SPECIFIER =
  /^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'|^\s*import\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/gm;

function sourceFiles(directory: string): string[] {
  return fs
    .readdirSync(path.join(PROJECT_ROOT, directory), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(PROJECT_ROOT, path.join(entry.parentPath, entry.name)));
}

/** The project files a source imports: './x.js' is x.ts beside it. */
export function importsOf(file: string, text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((match) => {
    const specifier = (match[1] ?? match[2] ?? match[3])!;
    return path.normalize(path.join(path.dirname(file), specifier.replace(/\.js$/, '.ts')));
  });
}

/** Every cycle of the graph, each once, as the files around it starting from its first in name order. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles = new Map<string, string[]>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') {
        const cycle = stack.slice(stack.indexOf(next));
        const first = cycle.indexOf([...cycle].sort()[0]!);
        const rotated = [...cycle.slice(first), ...cycle.slice(0, first)];
        cycles.set(rotated.join(' -> '), rotated);
      } else if (state.get(next) === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (state.get(file) === undefined) visit(file);
  return [...cycles.values()];
}

describe('imports', () => {
  const files = [...sourceFiles('src'), ...sourceFiles('tools')];
  const graph = new Map(
    files.map((file) => [file, importsOf(file, fs.readFileSync(path.join(PROJECT_ROOT, file), 'utf8'))]),
  );

  it('form no circle anywhere in src/ or tools/', () => {
    expect(findCycles(graph).map((cycle) => [...cycle, cycle[0]].join(' -> '))).toEqual([]);
  });

  it('every relative import names a file that exists (so the walk sees every edge)', () => {
    const missing = [...graph].flatMap(([file, targets]) =>
      targets
        .filter((target) => !fs.existsSync(path.join(PROJECT_ROOT, target)))
        .map((target) => `${file} -> ${target}`),
    );
    expect(missing).toEqual([]);
    expect([...graph.values()].flat().length).toBeGreaterThan(files.length);
  });

  it('the walk finds a circle when there is one, type imports and re-exports included', () => {
    const a = importsOf('src/a.ts', "import type { B } from './b.js';\nimport { x } from 'node:fs';\n");
    const b = importsOf('src/b.ts', "export { A } from './c/a.js';\nimport {\n  C,\n} from './c.js';\n");
    const c = importsOf('src/c.ts', "import { A } from './a.js';\n");
    expect(a).toEqual(['src/b.ts']);
    expect(b).toEqual(['src/c/a.ts', 'src/c.ts']);
    expect(
      findCycles(
        new Map([
          ['src/a.ts', a],
          ['src/b.ts', b],
          ['src/c.ts', c],
        ]),
      ),
    ).toEqual([['src/a.ts', 'src/b.ts', 'src/c.ts']]);
    expect(
      findCycles(
        new Map([
          ['src/a.ts', a],
          ['src/b.ts', b],
          ['src/c.ts', []],
        ]),
      ),
    ).toEqual([]);
  });
});
