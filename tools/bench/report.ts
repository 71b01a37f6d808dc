// Owns the shape of a benchmark report and turns it into something a person
// can look at: a Markdown report with the results, targets and resources
// tables, and an SVG chart with throughput and latency per scenario.

import type { GroupUsage } from './process-stats.js';

export interface ScenarioResult {
  name: string;
  description: string;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number };
  requests: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Answers other than those the scenario expects (200, or 200/422 for transactions). */
  unexpectedStatuses: number;
  statusCounts: Record<string, number>;
  usage: GroupUsage[];
}

export interface BenchReport {
  date: string;
  machine: string;
  databaseMode: string;
  connections: number;
  durationSeconds: number;
  rounds: number;
  /** How to run this benchmark again. */
  command: string;
  scenarios: ScenarioResult[];
  ratios: { name: string; value: number }[];
  /** The performance targets of the project, each with the measured value. */
  targets: { name: string; value: number; goal: string; met: boolean; unit: '%' | 'x' | 'MB' }[];
  consistency: { clients: number; inconsistencies: number; details: string[] };
}

export function scenarioNamed(scenarios: ScenarioResult[], name: string): ScenarioResult {
  const scenario = scenarios.find((candidate) => candidate.name === name);
  if (scenario === undefined) throw new Error(`no scenario named ${name} was measured`);
  return scenario;
}

export function formatTarget(target: BenchReport['targets'][number]): string {
  if (target.unit === '%') return `${(target.value * 100).toFixed(1)}%`;
  if (target.unit === 'x') return `${target.value.toFixed(2)}x`;
  return `${target.value.toFixed(1)} MB`;
}

const number = (value: number, digits = 0) => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const milliseconds = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));

export function renderMarkdown(report: BenchReport, chartFile: string): string {
  const lines: string[] = [];
  lines.push('# crebito benchmark');
  lines.push('');
  lines.push(`Run ${report.date} on ${report.machine}, with \`${report.command}\`.`);
  lines.push(`Database mode: **${report.databaseMode}**. ${report.connections} concurrent connections, ${report.durationSeconds} s per scenario, all in one run${report.rounds > 1 ? `; each line is the median of ${report.rounds} rounds by throughput` : ''}.`);
  lines.push('');
  lines.push(`![throughput and latency per scenario](${chartFile})`);
  lines.push('');
  lines.push('| scenario | what | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | unexpected |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const scenario of report.scenarios) {
    const { p50, p90, p99, p999 } = scenario.latencyMs;
    lines.push(`| ${scenario.name} | ${scenario.description} | ${number(scenario.requestsPerSecond)} | ${milliseconds(p50)} | ${milliseconds(p90)} | ${milliseconds(p99)} | ${milliseconds(p999)} | ${scenario.errors} | ${scenario.unexpectedStatuses} |`);
  }
  lines.push('');
  lines.push('| crebito against its ceilings | ratio |');
  lines.push('|---|---:|');
  for (const ratio of report.ratios) lines.push(`| ${ratio.name} | ${(ratio.value * 100).toFixed(1)}% |`);
  lines.push('');
  lines.push('| target | measured | goal | |');
  lines.push('|---|---:|---:|---|');
  for (const target of report.targets) lines.push(`| ${target.name} | ${formatTarget(target)} | ${target.goal} | ${target.met ? 'met' : '**missed**'} |`);
  lines.push('');
  const groupNames = report.scenarios[0]?.usage.map((usage) => usage.name) ?? [];
  lines.push('CPU seconds per scenario, and peak memory (PSS, MB: shared pages split fairly between processes), by process:');
  lines.push('');
  lines.push(`| scenario | ${groupNames.map((name) => `${name} CPU s | ${name} MB`).join(' | ')} |`);
  lines.push(`|---|${groupNames.map(() => '---:|---:').join('|')}|`);
  for (const scenario of report.scenarios) {
    lines.push(`| ${scenario.name} | ${scenario.usage.map((usage) => `${usage.cpuSeconds.toFixed(1)} | ${usage.peakMemoryMegabytes.toFixed(0)}`).join(' | ')} |`);
  }
  lines.push('');
  lines.push(`Books after the run: ${report.consistency.clients} clients checked, **${report.consistency.inconsistencies} inconsistencies** (balance equals the sum of its transactions, and never below -limite).`);
  for (const detail of report.consistency.details) lines.push(`- ${detail}`);
  lines.push('');
  return lines.join('\n');
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Two panels: requests per second, then p50/p90/p99 latency, one row per scenario. */
export function renderChart(report: BenchReport): string {
  const rowHeight = 26;
  const labelWidth = 120;
  const panelWidth = 360;
  const gap = 60;
  const top = 50;
  const height = top + report.scenarios.length * rowHeight + 40;
  const width = labelWidth + panelWidth * 2 + gap + 40;
  const maxRate = Math.max(...report.scenarios.map((scenario) => scenario.requestsPerSecond), 1);
  const maxLatency = Math.max(...report.scenarios.map((scenario) => scenario.latencyMs.p99), 0.001);
  const latencyColors = [['p50', '#4c78a8'], ['p90', '#f58518'], ['p99', '#e45756']] as const;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${labelWidth}" y="20" font-size="14" font-weight="bold">requests per second</text>`);
  const latencyLeft = labelWidth + panelWidth + gap;
  parts.push(`<text x="${latencyLeft}" y="20" font-size="14" font-weight="bold">latency, ms (p50, p90, p99)</text>`);
  parts.push(`<text x="${labelWidth}" y="36" fill="#666">${escape(`${report.databaseMode} mode, ${report.connections} connections, ${report.date.slice(0, 16).replace('T', ' ')} UTC`)}</text>`);
  report.scenarios.forEach((scenario, index) => {
    const y = top + index * rowHeight;
    parts.push(`<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escape(scenario.name)}</text>`);
    const rateWidth = (scenario.requestsPerSecond / maxRate) * panelWidth;
    parts.push(`<rect x="${labelWidth}" y="${y + 3}" width="${rateWidth.toFixed(1)}" height="${rowHeight - 8}" fill="${scenario.name.startsWith('db-') || scenario.name.startsWith('http-floor') ? '#9ecae9' : '#54a24b'}"/>`);
    parts.push(`<text x="${(labelWidth + rateWidth + 4).toFixed(1)}" y="${y + 15}">${number(scenario.requestsPerSecond)}</text>`);
    const barHeight = (rowHeight - 8) / latencyColors.length;
    latencyColors.forEach(([key, color], colorIndex) => {
      const value = scenario.latencyMs[key];
      const barWidth = (value / maxLatency) * (panelWidth - 50);
      parts.push(`<rect x="${latencyLeft}" y="${(y + 3 + colorIndex * barHeight).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${barHeight.toFixed(1)}" fill="${color}"/>`);
    });
    parts.push(`<text x="${(latencyLeft + (scenario.latencyMs.p99 / maxLatency) * (panelWidth - 50) + 4).toFixed(1)}" y="${y + 15}">${milliseconds(scenario.latencyMs.p99)}</text>`);
  });
  const legendY = top + report.scenarios.length * rowHeight + 20;
  parts.push(`<rect x="${labelWidth}" y="${legendY - 10}" width="10" height="10" fill="#9ecae9"/><text x="${labelWidth + 14}" y="${legendY}">ceiling (no database, or no HTTP)</text>`);
  parts.push(`<rect x="${labelWidth + 220}" y="${legendY - 10}" width="10" height="10" fill="#54a24b"/><text x="${labelWidth + 234}" y="${legendY}">crebito through nginx</text>`);
  latencyColors.forEach(([key, color], index) => {
    const x = latencyLeft + index * 60;
    parts.push(`<rect x="${x}" y="${legendY - 10}" width="10" height="10" fill="${color}"/><text x="${x + 14}" y="${legendY}">${key}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
