// The latency limit and the breakdown as Markdown, written to
// results/latency-<mode>.{json,md} and into docs/latency.md between its
// markers for that mode, so that `npm run bench` publishes the whole of it.

import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../../src/stack/paths.js';
import { milliseconds } from '../report/report.js';
import type { Breakdown, HopRow } from './breakdown.js';
import {
  AGREEMENT_TOLERANCE,
  GOALS_OVER_LIMIT,
  PERCENTILE_LABELS,
  PERCENTILES,
  type GoalVerdict,
  type Percentiles,
} from './limit.js';
import type { LatencyLimit } from './public-latency.js';

const DOCS_PATH = path.join(PROJECT_ROOT, 'docs', 'latency.md');
const markerOf = (mode: string, edge: 'start' | 'end') => `<!-- latency:${mode}:${edge} -->`;

const cells = (values: Percentiles) => PERCENTILES.map((name) => milliseconds(values[name])).join(' | ');
const ratioCells = (values: Percentiles) => PERCENTILES.map((name) => `${values[name].toFixed(2)}x`).join(' | ');
const verdictLine = (verdicts: GoalVerdict[]) =>
  verdicts
    .map(
      (each) =>
        `${PERCENTILE_LABELS[each.percentile]} ${each.ratio.toFixed(2)}x (goal ≤ ${each.goal}x) ` +
        `${each.met ? 'met' : '**missed**'}`,
    )
    .join('; ');

const agreementCell = (each: LatencyLimit['references'][number]['agreement'][number]) =>
  `${PERCENTILE_LABELS[each.percentile]} ${(each.ratio * 100).toFixed(0)}% ` +
  (each.within ? 'within' : '**not within**');

export function renderLatency(report: LatencyLimit, runLine: string): string {
  const header =
    `| ms | ${PERCENTILES.map((name) => PERCENTILE_LABELS[name]).join(' | ')} | generator's ` + `send lag p99 |`;
  const rule = `|---|${PERCENTILES.map(() => '---:').join('|')}|---:|`;
  const lag = report.sendLagP99Ms;
  const lines = [
    `### ${report.databaseMode} mode`,
    '',
    runLine,
    '',
    `Load average before: \`${report.uptime.before}\`; after: \`${report.uptime.after}\`.`,
    '',
    'The send lag is how late the generator sent its requests against their plan (p99): near zero on a quiet ' +
      'machine; ' +
      'larger, it is the machine starving the generator itself, and every figure of that run carries it.',
    '',
    header,
    rule,
    `| crebito, mix@public (stack just up) | ${cells(report.justUp)} | ${milliseconds(lag.justUp)} |`,
    `| crebito, mix@public-warm | ${cells(report.warm)} | ${milliseconds(lag.warm)} |`,
    `| floor: GET /health through nginx, same generator, a new connection each | ${cells(report.floor)} | ` +
      `${milliseconds(lag.floor)} |`,
    `| PostgreSQL alone: the same calls, prepared, same rate, no call waiting for another | ` +
      `${cells(report.database)} | ${milliseconds(lag.database)} |`,
    `| **limit** = floor + PostgreSQL alone | ${cells(report.limit)} | |`,
    `| crebito just up / limit | ${ratioCells(report.overLimit.justUp)} | |`,
    `| crebito warm / limit | ${ratioCells(report.overLimit.warm)} | |`,
    '',
    `Goals (p50 ≤ ${GOALS_OVER_LIMIT.p50}x, p99 ≤ ${GOALS_OVER_LIMIT.p99}x, p99.9 ≤ ` +
      `${GOALS_OVER_LIMIT.p999}x the limit): warm: ${verdictLine(report.verdicts.warm)}. Just up: ` +
      `${verdictLine(report.verdicts.justUp)}. p99.9 just up / warm: ${report.justUpOverWarmP999.toFixed(2)}x.`,
    '',
    `Second generators (the bench's figure / theirs, at p50 and p99; within ${AGREEMENT_TOLERANCE * 100}% or not):`,
    '',
    `| reference | generator | req/s | ${PERCENTILES.map((name) => PERCENTILE_LABELS[name]).join(' | ')} | agreement |`,
    `|---|---|---:|${PERCENTILES.map(() => '---:').join('|')}|---|`,
    ...report.references.map(
      (reference) =>
        `| ${reference.name} | ${reference.generator} | ${reference.requestsPerSecond.toFixed(0)} | ` +
        `${cells(reference.latencyMs)} | ` +
        `${reference.agreement.map(agreementCell).join(', ')} |`,
    ),
    '',
    ...report.references.map((reference) => `- ${reference.name}: ${reference.note}.`),
    '',
    ...(report.breakdown === undefined ? [] : breakdownSection(report.breakdown)),
    ...stallSection(report),
  ];
  return lines.join('\n');
}

const hopCell = (value: number | undefined, atMost: boolean) =>
  value === undefined ? '–' : `${atMost ? '≤ ' : ''}${value === Infinity ? '∞' : milliseconds(value)}`;

function breakdownSection(breakdown: Breakdown): string[] {
  const row = (hop: HopRow) =>
    `| ${hop.hop} | ${hop.count} | ${hopCell(hop.p50, hop.atMost)} | ${hopCell(hop.p99, hop.atMost)} | ` +
    `${hopCell(hop.p999, hop.atMost)} | ${hopCell(hop.max, hop.atMost)} | ${hop.source} |`;
  return [
    '#### Where the time goes (the mix at the public rate once more, every hop logged)',
    '',
    '| hop | count | p50 ms | p99 ms | p99.9 ms | max ms | source |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...breakdown.hops.map(row),
    '',
    ...breakdown.facts.map((fact) => `- ${fact}`),
    ...(breakdown.databaseEvents.length === 0
      ? ['- PostgreSQL logged no checkpoint, autovacuum or lock wait during this run.']
      : ['- PostgreSQL logged during this run:', ...breakdown.databaseEvents.map((event) => `  - \`${event}\``)]),
    '',
  ];
}

function stallSection({ stalls }: LatencyLimit): string[] {
  return [
    '#### Stalls: the slowest answers at the public rate, and what PostgreSQL logged meanwhile',
    '',
    '| run | slowest answers: ms (seconds into the run) |',
    '|---|---|',
    ...stalls.slowest.map(
      (run) =>
        `| ${run.scenario} | ${run.answers
          .slice(0, 6)
          .map((answer) => `${milliseconds(answer.latencyMs)} (${answer.secondsIntoRun.toFixed(1)} s)`)
          .join(', ')} |`,
    ),
    '',
    ...(stalls.databaseEvents.length === 0
      ? ['PostgreSQL logged no checkpoint, autovacuum or lock wait during the runs at the public rate.']
      : [
          'PostgreSQL logged during the runs at the public rate:',
          '',
          ...stalls.databaseEvents.map((event) => `- \`${event}\``),
        ]),
    '',
  ];
}

export function printLatency(report: LatencyLimit): void {
  const line = (name: string, values: Percentiles) =>
    console.log(
      `${name.padEnd(34)} ` +
        `${PERCENTILES.map((each) => `${PERCENTILE_LABELS[each]} ${milliseconds(values[each])}`).join('  ')}`,
    );
  line('crebito mix@public (just up)', report.justUp);
  line('crebito mix@public-warm', report.warm);
  line('floor http-floor@public', report.floor);
  line('PostgreSQL alone db-alone@public', report.database);
  line('limit = floor + PostgreSQL alone', report.limit);
  console.log(`warm / limit: ${verdictLine(report.verdicts.warm)}`);
  console.log(`just up / limit: ${verdictLine(report.verdicts.justUp)}`);
  for (const reference of report.references) line(reference.name, reference.latencyMs);
  for (const hop of report.breakdown?.hops ?? [])
    console.log(
      `  ${hop.hop}: p50 ${hopCell(hop.p50, hop.atMost)}  p99 ${hopCell(hop.p99, hop.atMost)}  p99.9 ` +
        `${hopCell(hop.p999, hop.atMost)}  max ${hopCell(hop.max, hop.atMost)}`,
    );
  for (const fact of report.breakdown?.facts ?? []) console.log(`  ${fact}`);
}

/** results/latency-<mode>.{json,md}, and the mode's section of docs/latency.md. */
export function writeLatency(
  report: LatencyLimit,
  options: { out: string; runLine: string; updateDocs: boolean },
): void {
  fs.mkdirSync(options.out, { recursive: true });
  const base = path.join(options.out, `latency-${report.databaseMode}`);
  const markdown = renderLatency(report, options.runLine);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(`${base}.md`, `${markdown}\n`);
  console.log(`wrote ${base}.json and .md`);
  if (options.updateDocs) replaceSection(DOCS_PATH, report.databaseMode, markdown);
}

export function replaceSection(file: string, mode: string, markdown: string): void {
  const text = fs.readFileSync(file, 'utf8');
  const [start, end] = [markerOf(mode, 'start'), markerOf(mode, 'end')];
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${file} has no ${start} … ${end} section`);
  fs.writeFileSync(file, `${text.slice(0, from + start.length)}\n${markdown.trim()}\n${text.slice(to)}`);
  console.log(`updated ${path.relative(PROJECT_ROOT, file)} (${mode})`);
}
