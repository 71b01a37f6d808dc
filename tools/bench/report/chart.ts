// A benchmark report as an SVG chart, two panels side by side: throughput at
// saturation, one bar per closed-model scenario (ceilings in blue, crebito in
// green); and latency at fixed arrival rates, p50/p99/p99.9 per open-model
// scenario, so the mix can be read against the floor at the same rate.

import { milliseconds, number, type BenchReport, type ScenarioResult } from './report.js';

const ROW_HEIGHT_PX = 26;
const LABEL_WIDTH_PX = 130;
const PANEL_WIDTH_PX = 340;
const GAP_PX = 150;
const TOP_PX = 50;
const CEILING_BAR_FILL = '#9ecae9';
const SERVICE_BAR_FILL = '#54a24b';
const LATENCY_COLORS = [
  ['p50', '#4c78a8'],
  ['p99', '#f58518'],
  ['p999', '#e45756'],
] as const;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const isCeiling = (scenario: ScenarioResult) =>
  scenario.name.startsWith('db-') || scenario.name.startsWith('http-floor');

function throughputPanel(scenarios: ScenarioResult[], left: number): string[] {
  const maxRate = Math.max(...scenarios.map((scenario) => scenario.requestsPerSecond), 1);
  const parts = [`<text x="${left}" y="20" font-size="14" font-weight="bold">saturation, requests per second</text>`];
  scenarios.forEach((scenario, index) => {
    const y = TOP_PX + index * ROW_HEIGHT_PX;
    const width = (scenario.requestsPerSecond / maxRate) * (PANEL_WIDTH_PX - 60);
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escape(scenario.name)}</text>`);
    parts.push(
      `<rect x="${left}" y="${y + 3}" width="${width.toFixed(1)}" height="${ROW_HEIGHT_PX - 8}" ` +
        `fill="${isCeiling(scenario) ? CEILING_BAR_FILL : SERVICE_BAR_FILL}"/>`,
    );
    parts.push(`<text x="${(left + width + 4).toFixed(1)}" y="${y + 15}">${number(scenario.requestsPerSecond)}</text>`);
  });
  return parts;
}

function latencyPanel(scenarios: ScenarioResult[], left: number): string[] {
  const maxLatency = Math.max(...scenarios.map((scenario) => scenario.latencyMs.p999), 0.001);
  const parts = [
    `<text x="${left}" y="20" font-size="14" font-weight="bold">fixed arrival rates, latency ms (p50, p99, p99.9)</text>`,
  ];
  scenarios.forEach((scenario, index) => {
    const y = TOP_PX + index * ROW_HEIGHT_PX;
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escape(scenario.name)}</text>`);
    const barHeight = (ROW_HEIGHT_PX - 8) / LATENCY_COLORS.length;
    LATENCY_COLORS.forEach(([key, color], colorIndex) => {
      const width = (scenario.latencyMs[key] / maxLatency) * (PANEL_WIDTH_PX - 60);
      parts.push(
        `<rect x="${left}" y="${(y + 3 + colorIndex * barHeight).toFixed(1)}" width="${width.toFixed(1)}" height="${barHeight.toFixed(1)}" fill="${color}"/>`,
      );
    });
    const p999Width = (scenario.latencyMs.p999 / maxLatency) * (PANEL_WIDTH_PX - 60);
    parts.push(
      `<text x="${(left + p999Width + 4).toFixed(1)}" y="${y + 15}">${milliseconds(scenario.latencyMs.p999)}</text>`,
    );
  });
  return parts;
}

function legend(y: number, latencyLeft: number): string[] {
  const parts = [
    `<rect x="${LABEL_WIDTH_PX}" y="${y - 10}" width="10" height="10" fill="${CEILING_BAR_FILL}"/>` +
      `<text x="${LABEL_WIDTH_PX + 14}" y="${y}">ceiling (no database, or no HTTP)</text>`,
    `<rect x="${LABEL_WIDTH_PX}" y="${y + 6}" width="10" height="10" fill="${SERVICE_BAR_FILL}"/>` +
      `<text x="${LABEL_WIDTH_PX + 14}" y="${y + 16}">crebito through nginx</text>`,
  ];
  LATENCY_COLORS.forEach(([key, color], index) => {
    const x = latencyLeft + index * 70;
    parts.push(
      `<rect x="${x}" y="${y - 10}" width="10" height="10" fill="${color}"/><text x="${x + 14}" y="${y}">${key === 'p999' ? 'p99.9' : key}</text>`,
    );
  });
  return parts;
}

export function renderChart(report: BenchReport): string {
  const closed = report.scenarios.filter((scenario) => scenario.model.kind === 'closed');
  const open = report.scenarios.filter((scenario) => scenario.model.kind === 'open');
  const rows = Math.max(closed.length, open.length);
  const height = TOP_PX + rows * ROW_HEIGHT_PX + 50;
  const latencyLeft = LABEL_WIDTH_PX + PANEL_WIDTH_PX + GAP_PX;
  const width = latencyLeft + PANEL_WIDTH_PX + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${LABEL_WIDTH_PX}" y="36" fill="#666">${escape(`${report.databaseMode} mode, ${report.date.slice(0, 16).replace('T', ' ')} UTC`)}</text>`,
    ...throughputPanel(closed, LABEL_WIDTH_PX),
    ...latencyPanel(open, latencyLeft),
    ...legend(TOP_PX + rows * ROW_HEIGHT_PX + 20, latencyLeft),
    '</svg>',
    '',
  ].join('\n');
}
