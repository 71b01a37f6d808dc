// A benchmark report as Markdown: how it was run and whether the generator
// can be trusted (the calibration line), saturation, latency at fixed
// arrival rates, the targets, the run under the public test's limits, what
// each process spent, and the books. docs/performance.md's published run is this.

import {
  formatTarget,
  milliseconds,
  number,
  type BenchReport,
  type Consistency,
  type LimitedRun,
  type ScenarioResult,
} from './report.js';
import { CALIBRATION_TOLERANCE, calibrationRatio } from './targets.js';

const openModel = (scenario: ScenarioResult) => scenario.model.kind === 'open';

export function renderMarkdown(report: BenchReport, chartFile: string): string {
  return [
    '# crebito benchmark',
    '',
    ...header(report),
    `![saturation throughput, and latency at fixed arrival rates](${chartFile})`,
    '',
    ...saturationSection(report),
    ...openModelSection(report),
    ...targetsSection(report),
    ...startupSection(report),
    ...limitedSection(report.limited),
    ...usageSection(report.scenarios),
    ...books('Books after the run', report.consistency),
  ].join('\n');
}

function startupSection({ startup }: BenchReport): string[] {
  const seconds = (value: number | undefined) =>
    value === undefined ? 'not measured (a stack the bench did not start)' : `${value.toFixed(2)} s`;
  return [
    '### Start-up',
    '',
    "- The launcher started to its `up` line (cluster, schema, a new ledger's first backup, instances with their pools " +
      `open and warm): ${seconds(startup.upSeconds)}`,
    `- An instance killed (SIGKILL) to its successor ready (/ready 200: restarted, pool open and warm): ${seconds(startup.instanceRestartSeconds)}`,
    '',
  ];
}

function header(report: BenchReport): string[] {
  const { calibration } = report;
  const ratio = calibrationRatio(calibration);
  const within = Math.abs(ratio - 1) <= CALIBRATION_TOLERANCE;
  return [
    `Run ${report.date} on ${report.machine}, with \`${report.command}\`.`,
    ...(report.uptime === undefined
      ? []
      : [`Load average before: \`${report.uptime.before}\`; after: \`${report.uptime.after}\`.`]),
    `Database mode: **${report.databaseMode}**. ` +
      `Saturation: ${report.connections} connections, ${report.durationSeconds} s per scenario` +
      `${report.rounds > 1 ? `, each line the median of ${report.rounds} rounds by throughput` : ''}. ` +
      `Fixed arrival rates: ${report.publicRateDurationSeconds} s at the public test's rate, ` +
      `${report.durationSeconds} s at the others. All in one run.`,
    '',
    `**Calibration**: the HTTP floor measured ${number(calibration.requestsPerSecond)} req/s with ${calibration.generator} (the saturation runs' generator) ` +
      `and ${number(calibration.secondRequestsPerSecond)} req/s with ${calibration.secondGenerator} on the same stack, right after: ` +
      `${(ratio * 100).toFixed(1)}%, ${within ? 'within' : '**not within**'} ${CALIBRATION_TOLERANCE * 100}%.`,
    '',
  ];
}

function saturationSection(report: BenchReport): string[] {
  const lines = [
    '### Saturation (closed model: each connection sends again as soon as it is answered)',
    '',
    '| scenario | what | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | unexpected |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const scenario of report.scenarios.filter((each) => !openModel(each))) {
    const { p50, p90, p99, p999, max } = scenario.latencyMs;
    lines.push(
      `| ${scenario.name} | ${scenario.description} | ${number(scenario.requestsPerSecond)} ` +
        `| ${milliseconds(p50)} | ${milliseconds(p90)} | ${milliseconds(p99)} | ${milliseconds(p999)} ` +
        `| ${milliseconds(max)} | ${scenario.errors} | ${scenario.unexpectedStatuses} |`,
    );
  }
  lines.push('', '| crebito against its ceilings | ratio |', '|---|---:|');
  for (const ratio of report.ratios) lines.push(`| ${ratio.name} | ${(ratio.value * 100).toFixed(1)}% |`);
  lines.push('');
  return lines;
}

function openModelSection(report: BenchReport): string[] {
  const open = report.scenarios.filter(openModel);
  const generator = open[0]?.generator ?? 'none';
  const lines = [
    '### Latency at fixed arrival rates (open model: arrivals do not wait for answers)',
    '',
    `Driven by ${generator}. Each latency runs from when the request was sent (its connection's set-up included) to its answer's last byte; ` +
      'a request that had to wait for a free connection counts its wait. "send lag" is how late the generator sent requests against their plan: its own error.',
    '',
    '| scenario | what | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | send lag p99 ms | errors | unexpected |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const scenario of open) {
    const { p50, p90, p99, p999, max } = scenario.latencyMs;
    const lag = scenario.sendLagMs?.p99 ?? 0;
    lines.push(
      `| ${scenario.name} | ${scenario.description} | ${number(scenario.requestsPerSecond)} ` +
        `| ${milliseconds(p50)} | ${milliseconds(p90)} | ${milliseconds(p99)} | ${milliseconds(p999)} ` +
        `| ${milliseconds(max)} | ${milliseconds(lag)} | ${scenario.errors} | ${scenario.unexpectedStatuses} |`,
    );
  }
  lines.push('');
  return lines;
}

function targetsSection(report: BenchReport): string[] {
  const lines = ['| target | measured | goal | |', '|---|---:|---:|---|'];
  for (const target of report.targets)
    lines.push(`| ${target.name} | ${formatTarget(target)} | ${target.goal} | ${target.met ? 'met' : '**missed**'} |`);
  lines.push('');
  return lines;
}

function limitedSection(limited: LimitedRun): string[] {
  const lines = ["### Under the public test's limits (docker-compose.yml, as cgroups)", ''];
  if (limited.skipped !== undefined) return [...lines, `Not run: ${limited.skipped}.`, ''];
  lines.push(
    'A stack of its own, each part in cgroups with the CPU quota and memory limit its compose service declares. ' +
      '"charged" is what the kernel counted against the limit; ' +
      '"anonymous" is the memory no limit can take back by dropping file pages, wherever it was charged.',
    '',
    '| scenario | req/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | unexpected |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const scenario of limited.scenarios) {
    const { p50, p99, p999, max } = scenario.latencyMs;
    lines.push(
      `| ${scenario.name} | ${number(scenario.requestsPerSecond)} | ${milliseconds(p50)} | ${milliseconds(p99)} ` +
        `| ${milliseconds(p999)} | ${milliseconds(max)} | ${scenario.errors} | ${scenario.unexpectedStatuses} |`,
    );
  }
  lines.push(
    '',
    '| part | service | CPUs | memory limit MB | charged peak MB | anonymous peak MB | RSS peak MB | limit reached | OOM kills | CPU throttled |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const part of limited.components) {
    lines.push(
      `| ${part.name}${part.joinedLate ? ' (joined once up)' : ''} | ${part.service} | ${part.cpus} ` +
        `| ${part.memoryLimitMegabytes.toFixed(0)} | ${part.peakChargedMegabytes.toFixed(1)} ` +
        `| ${part.peakAnonymousMegabytes.toFixed(1)} | ${part.peakRssMegabytes.toFixed(1)} ` +
        `| ${part.limitHits} | ${part.oomKills} | ${(part.throttledShare * 100).toFixed(0)}% of periods |`,
    );
  }
  lines.push('');
  if (limited.leftovers.length > 0) lines.push(`cgroups left behind: ${limited.leftovers.join(', ')}.`, '');
  return [
    ...lines,
    ...(limited.consistency === undefined ? [] : books('Books after the limited run', limited.consistency)),
  ];
}

function usageSection(scenarios: ScenarioResult[]): string[] {
  const groupNames = scenarios[0]?.usage.map((usage) => usage.name) ?? [];
  const lines = [
    'CPU seconds per scenario, and peak memory (PSS, MB: shared pages split fairly between processes), by process. ' +
      '"load generator" is the bench\'s process and wrk, less "sampling": the bench reading /proc for this table.',
    '',
    `| scenario | ${groupNames.map((name) => `${name} CPU s | ${name} MB`).join(' | ')} |`,
    `|---|${groupNames.map(() => '---:|---:').join('|')}|`,
  ];
  for (const scenario of scenarios) {
    lines.push(
      `| ${scenario.name} | ${scenario.usage.map((usage) => `${usage.cpuSeconds.toFixed(1)} | ${usage.peakMemoryMegabytes.toFixed(0)}`).join(' | ')} |`,
    );
  }
  lines.push('');
  return lines;
}

function books(title: string, consistency: Consistency): string[] {
  return [
    `${title}: ${consistency.clients} clients checked, **${consistency.inconsistencies} inconsistencies** ` +
      '(balance equals the sum of its transactions, and never below -limite).',
    ...consistency.details.map((detail) => `- ${detail}`),
    '',
  ];
}
