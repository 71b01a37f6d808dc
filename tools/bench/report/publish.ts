// Where a finished benchmark report goes: a summary on the console, the
// report as JSON, Markdown and SVG in the output folder, and with --publish
// the published run of docs/performance.md (between its bench markers).

import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../../src/stack/paths.js';
import { renderChart } from './chart.js';
import { renderMarkdown } from './markdown.js';
import { formatTarget, type BenchReport, type ScenarioResult } from './report.js';

export const PUBLISHED_START = '<!-- bench:start -->';
export const PUBLISHED_END = '<!-- bench:end -->';
export const PUBLISHED_FILE = path.join(PROJECT_ROOT, 'docs', 'performance.md');

/** One line per scenario, as it finishes. */
const SLOWEST_PRINTED = 5;

export function printScenario(result: ScenarioResult): ScenarioResult {
  const { p50, p99, p999 } = result.latencyMs;
  const lag = result.sendLagMs === undefined ? '' : `  send lag p99 ${result.sendLagMs.p99.toFixed(2)} ms`;
  console.log(
    `${result.name.padEnd(18)} ${result.requestsPerSecond.toFixed(0).padStart(7)} req/s  ` +
      `p50 ${p50.toFixed(2)}  p99 ${p99.toFixed(2)}  p99.9 ${p999.toFixed(2)}  ` +
      `max ${result.latencyMs.max.toFixed(2)} ms${lag}  ` +
      `errors ${result.errors}  unexpected ${result.unexpectedStatuses}`,
  );
  // At fixed rates, the slowest answers with their times, to line up with the stack's logs.
  if (result.model.kind === 'open' && result.slowest !== undefined) {
    console.log(
      `  slowest: ${result.slowest
        .slice(0, SLOWEST_PRINTED)
        .map((answer) => `${answer.latencyMs.toFixed(1)} ms at ${answer.answeredAt.slice(11)}`)
        .join(', ')}`,
    );
  }
  return result;
}

export function printSummary(report: BenchReport): void {
  const { calibration } = report;
  console.log(
    `calibration: the floor by ${calibration.generator} ${calibration.requestsPerSecond.toFixed(0)} req/s, ` +
      `by ${calibration.secondGenerator} ${calibration.secondRequestsPerSecond.toFixed(0)} req/s`,
  );
  for (const ratio of report.ratios) console.log(`${ratio.name.padEnd(28)} ${(ratio.value * 100).toFixed(1)}%`);
  for (const target of report.targets)
    console.log(
      `target ${target.met ? 'met    ' : 'MISSED '} ${target.name}: ${formatTarget(target)} (goal ${target.goal})`,
    );
  for (const [title, consistency] of [
    ['books', report.consistency],
    ['books under limits', report.limited.consistency],
  ] as const) {
    if (consistency === undefined) continue;
    console.log(`${title}: ${consistency.clients} clients, ${consistency.inconsistencies} inconsistencies`);
    for (const detail of consistency.details) console.log(`  ${detail}`);
  }
  if (report.limited.skipped !== undefined) console.log(`under compose limits: not run (${report.limited.skipped})`);
}

/** Writes <out>/<name>.{json,md,svg}; with publish, docs/performance.md's published run too. */
export function writeReport(report: BenchReport, options: { out: string; name: string; publish: boolean }): void {
  fs.mkdirSync(options.out, { recursive: true });
  const base = path.join(options.out, options.name);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(`${base}.svg`, renderChart(report));
  const markdown = renderMarkdown(report, path.basename(`${base}.svg`));
  fs.writeFileSync(`${base}.md`, markdown);
  console.log(`wrote ${base}.json, .md and .svg`);
  if (options.publish) publish(markdown);
}

/** The published-run section of a document with the latest report in it; the rest of the document as it was. */
export function withPublishedRun(document: string, markdown: string): string {
  const start = document.indexOf(PUBLISHED_START);
  const end = document.indexOf(PUBLISHED_END);
  if (start < 0 || end < start) {
    throw new Error(`docs/performance.md has no ${PUBLISHED_START} … ${PUBLISHED_END} section`);
  }
  // The chart sits beside the report in results/; the document is one folder down from the root.
  const section = markdown.replace(/^# .*\n/, '').replace(/\]\((bench-[a-z]+\.svg)\)/, '](../results/$1)');
  return `${document.slice(0, start + PUBLISHED_START.length)}\n${section.trim()}\n${document.slice(end)}`;
}

/** Replaces the published run of docs/performance.md with the latest report. */
function publish(markdown: string): void {
  fs.writeFileSync(PUBLISHED_FILE, withPublishedRun(fs.readFileSync(PUBLISHED_FILE, 'utf8'), markdown));
  console.log('updated the published run in docs/performance.md');
}
