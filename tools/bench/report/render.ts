// Renders a saved bench report (its JSON) as the Markdown the bench writes
// beside it, for runs whose JSON alone was kept: the summary people read,
// without the raw per-scenario detail. No chart was kept for those runs, and
// reports from before start-up was measured have no start-up section.
//
//   node dist/tools/bench/report/render.js results/<run>.json   # writes results/<run>.md beside it

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderMarkdown } from './markdown.js';
import type { BenchReport } from './report.js';

export function renderSaved(json: string): string {
  const report = JSON.parse(json) as Omit<BenchReport, 'startup'> & { startup?: BenchReport['startup'] };
  const startup = report.startup ?? { upSeconds: undefined, instanceRestartSeconds: undefined };
  const markdown = renderMarkdown({ ...report, startup }, 'chart.svg').replace(/^!\[.*\]\(chart\.svg\)\n\n/m, '');
  return report.startup === undefined ? markdown.replace(/### Start-up\n[^#]*/, '') : markdown;
}

function main(files: string[]): void {
  if (files.length === 0) throw new Error('usage: render.js <report.json>…');
  for (const file of files) {
    const out = file.replace(/\.json$/, '.md');
    fs.writeFileSync(out, renderSaved(fs.readFileSync(file, 'utf8')));
    console.log(`wrote ${path.relative(process.cwd(), out)}`);
  }
}

const runAsProgram = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (runAsProgram) main(process.argv.slice(2));
