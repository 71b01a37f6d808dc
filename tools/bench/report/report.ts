// Owns the shape of a benchmark report: what one run measured, and the
// helpers every view of it shares. markdown.ts and chart.ts render it.

import type { LatencySummary } from '../load/latency-histogram.js';
import type { LoadModel, SlowAnswer } from '../load/load-generator.js';
import type { GroupUsage } from '../process-stats.js';

import type { Startup } from '../startup.js';

export interface ScenarioResult {
  name: string;
  description: string;
  /** Which generator drove it. */
  generator: string;
  model: LoadModel;
  requestsPerSecond: number;
  latencyMs: LatencySummary;
  /** Open model: how late after its planned time the generator sent each request (its own error). */
  sendLagMs: LatencySummary | undefined;
  requests: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Answers other than those the scenario expects (200, or 200/422 for transactions). */
  unexpectedStatuses: number;
  statusCounts: Record<string, number>;
  usage: GroupUsage[];
  /** Our own generator's slowest answers, with when they came (to line up with the stack's logs). */
  slowest?: SlowAnswer[];
  /** When the generator was started (its load begins a fraction of a second later). */
  startedAt?: string;
}

/** The bench's floor against a second, independent generator's on the same stack. */
export interface Calibration {
  scenario: string;
  generator: string;
  requestsPerSecond: number;
  secondGenerator: string;
  secondRequestsPerSecond: number;
}

/** One part of the stack under its docker-compose.yml limits, over the limited run. */
export interface LimitedComponent {
  name: string;
  service: string;
  cpus: number;
  memoryLimitMegabytes: number;
  /** The most the kernel charged to its memory cgroup at once. */
  peakChargedMegabytes: number;
  /** Its processes' anonymous memory at their peak, wherever charged (a part that joined late, or node's start-up). */
  peakAnonymousMegabytes: number;
  peakRssMegabytes: number;
  /** How often its memory reached the limit and the kernel reclaimed. */
  limitHits: number;
  oomKills: number;
  /** Share of its CFS periods in which the CPU quota stopped it. */
  throttledShare: number;
  joinedLate: boolean;
}

export interface LimitedRun {
  /** Why it did not run (not root, no cgroup v1, --limits off); undefined when it ran. */
  skipped: string | undefined;
  scenarios: ScenarioResult[];
  components: LimitedComponent[];
  consistency: Consistency | undefined;
  /** cgroups that could not be removed afterwards. */
  leftovers: string[];
}

export interface Consistency {
  clients: number;
  inconsistencies: number;
  details: string[];
}

export interface Target {
  name: string;
  value: number;
  goal: string;
  met: boolean;
  unit: '%' | 'x' | 'ms';
}

export interface BenchReport {
  date: string;
  machine: string;
  databaseMode: string;
  connections: number;
  durationSeconds: number;
  /** How long each run at the public test's rate lasts (long enough for a p99.9). */
  publicRateDurationSeconds: number;
  rounds: number;
  /** How to run this benchmark again. */
  command: string;
  /** `uptime` before and after the run: the machine's load, which every figure carries (absent in older reports). */
  uptime?: { before: string; after: string };
  calibration: Calibration;
  /** Saturation first (closed model), then fixed arrival rates (open model). */
  scenarios: ScenarioResult[];
  ratios: { name: string; value: number }[];
  /** The performance targets of the project, each with the measured value. */
  targets: Target[];
  limited: LimitedRun;
  consistency: Consistency;
  /** What start-up costs (startup.ts). */
  startup: Startup;
}

export function scenarioNamed(scenarios: ScenarioResult[], name: string): ScenarioResult {
  const scenario = scenarios.find((candidate) => candidate.name === name);
  if (scenario === undefined) throw new Error(`no scenario named ${name} was measured`);
  return scenario;
}

export function formatTarget(target: Target): string {
  if (target.unit === '%') return `${(target.value * 100).toFixed(1)}%`;
  if (target.unit === 'x') return `${target.value.toFixed(2)}x`;
  return `${target.value.toFixed(2)} ms`;
}

export const number = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const milliseconds = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));
