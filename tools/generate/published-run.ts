// docs/performance.md's published bench run, between its bench markers: the
// report the bench wrote to results/bench-<mode>.md, for the mode the block
// shows (durable unless it says otherwise). `npm run bench -- --publish`
// writes the same block at the end of a run; this keeps the document from
// drifting from the file in results/ it quotes.

import fs from 'node:fs';
import path from 'node:path';
import { PUBLISHED_FILE, PUBLISHED_START, withPublishedRun } from '../bench/report/publish.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import type { GeneratedFile } from './generated-file.js';

/** The report in results/ that a published block quotes: its database mode's. */
export function publishedReportPath(document: string): string {
  const block = document.slice(Math.max(document.indexOf(PUBLISHED_START), 0));
  const mode = /Database mode: \*\*(\w+)\*\*/.exec(block)?.[1] ?? 'durable';
  return path.join(PROJECT_ROOT, 'results', `bench-${mode}.md`);
}

export const PUBLISHED_RUN_FILE: GeneratedFile = {
  path: PUBLISHED_FILE,
  what: "docs/performance.md's published bench run, from results/",
  render: (current) => withPublishedRun(current, fs.readFileSync(publishedReportPath(current), 'utf8')),
};
