// crebito against its ceilings: the ratios the report shows, and the
// project's performance targets, each from the measured scenarios.

import { scenarioNamed, type BenchReport, type ScenarioResult } from './report.js';

// Transactions against the database ceiling. Lower in fast mode: with fsync
// off PostgreSQL is CPU-bound, and nginx, the instances and the load generator
// take CPU from it that the no-HTTP ceiling does not pay (README, Performance notes).
const TRANSACTION_GOAL_DURABLE = 1;
const TRANSACTION_GOAL_FAST = 0.8;
const STATEMENT_GOAL = 0.6;
const HALF_RATE_P99_GOAL = 3;
const INSTANCE_RSS_GOAL_MB = 64;

export function compare(scenarios: ScenarioResult[], options: { databaseMode: string; instanceNames: string[] }): Pick<BenchReport, 'ratios' | 'targets'> {
  const rate = (name: string) => scenarioNamed(scenarios, name).requestsPerSecond;
  const p99 = (name: string) => scenarioNamed(scenarios, name).latencyMs.p99;
  const ratios = [
    { name: 'transacoes / db-transacao', value: rate('transacoes') / rate('db-transacao') },
    { name: 'transacoes / http-floor', value: rate('transacoes') / rate('http-floor') },
    { name: 'extrato / db-extrato', value: rate('extrato') / rate('db-extrato') },
    { name: 'extrato / http-floor', value: rate('extrato') / rate('http-floor') },
  ];
  const transactionGoal = options.databaseMode === 'fast' ? TRANSACTION_GOAL_FAST : TRANSACTION_GOAL_DURABLE;
  const transactions = rate('transacoes') / rate('db-transacao');
  const statements = rate('extrato') / Math.min(rate('http-floor'), rate('db-extrato'));
  const tail = p99('mix@half') / p99('http-floor@half');
  const instanceRss = peakInstanceRss(scenarios, options.instanceNames);
  const targets: BenchReport['targets'] = [
    { name: 'transacoes / db-transacao', value: transactions, goal: `>= ${transactionGoal * 100}%`, met: transactions >= transactionGoal, unit: '%' },
    { name: 'extrato / min(http-floor, db-extrato)', value: statements, goal: `>= ${STATEMENT_GOAL * 100}%`, met: statements >= STATEMENT_GOAL, unit: '%' },
    { name: 'p99 mix@half / p99 http-floor@half', value: tail, goal: `<= ${HALF_RATE_P99_GOAL}x`, met: tail <= HALF_RATE_P99_GOAL, unit: 'x' },
    { name: 'peak RSS of an instance at saturation, MB', value: instanceRss, goal: `< ${INSTANCE_RSS_GOAL_MB}`, met: instanceRss < INSTANCE_RSS_GOAL_MB, unit: 'MB' },
  ];
  return { ratios, targets };
}

/** The largest RSS any instance reached in the scenarios that saturate it (not the ceilings, not the half-rate ones). */
function peakInstanceRss(scenarios: ScenarioResult[], instanceNames: string[]): number {
  const saturated = scenarios.filter((scenario) => !scenario.name.includes('@') && !scenario.name.startsWith('db-'));
  return Math.max(...saturated.flatMap((scenario) => scenario.usage.filter((usage) => instanceNames.includes(usage.name)).map((usage) => usage.peakRssMegabytes)));
}
