// Owns the latency budget's report: its shape, and the Markdown that says
// where each operation's time goes, layer by layer (budget.ts measures it).

export type Operation = 'health' | 'extrato' | 'transacao';

export interface BudgetReport {
  date: string;
  machine: string;
  databaseMode: string;
  rate: number;
  seconds: number;
  rounds: number;
  command: string;
  results: {
    operation: Operation;
    layer: 'postgres' | 'database' | 'instance' | 'nginx' | 'public';
    p50: number;
    p90: number;
    p99: number;
    p999: number;
  }[];
}

const LAYER_WORDS = {
  postgres: 'PostgreSQL alone: the same SQL from pgbench (C, libpq)',
  database: 'database and driver: the SQL through pg, no HTTP',
  instance: 'HTTP straight to one instance (kept-alive)',
  nginx: 'through nginx (kept-alive)',
  public: 'through nginx, a new connection each (the public test)',
} as const;

const SHARE_WORDS = {
  postgres: 'PostgreSQL (the commit included, for a transaction)',
  database: 'Node and the driver (pg): a wake-up of the event loop, the protocol',
  instance: "the instance (HTTP, validation, batching, the driver's round trip)",
  nginx: 'nginx (a second hop over a unix socket)',
  public: 'opening a connection',
} as const;

const ms = (value: number) => value.toFixed(3);

function operationSection(report: BudgetReport, operation: Operation): string[] {
  const rows = report.results.filter((result) => result.operation === operation);
  const lines = [
    `### ${operation}`,
    '',
    '| layer | p50 ms | p90 ms | p99 ms | p99.9 ms |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const row of rows)
    lines.push(`| ${LAYER_WORDS[row.layer]} | ${ms(row.p50)} | ${ms(row.p90)} | ${ms(row.p99)} | ${ms(row.p999)} |`);
  lines.push('', '| share of the public p50 | ms | of p50 | p99 added, ms |', '|---|---:|---:|---:|');
  const total = rows[rows.length - 1]!.p50;
  rows.forEach((row, index) => {
    const before = index === 0 ? { p50: 0, p99: 0 } : rows[index - 1]!;
    // Without pgbench there is no postgres layer, and the first share is the database's and the driver's together.
    const words =
      index === 0 && row.layer === 'database'
        ? 'the database and the driver (pgbench was not installed to tell them apart)'
        : SHARE_WORDS[row.layer];
    lines.push(
      `| ${words} | ${ms(row.p50 - before.p50)} | ${(((row.p50 - before.p50) / total) * 100).toFixed(0)}% | ${ms(row.p99 - before.p99)} |`,
    );
  });
  lines.push('');
  return lines;
}

export function renderBudget(report: BudgetReport): string {
  const lines = [
    '# crebito latency budget',
    '',
    `Run ${report.date} on ${report.machine}, with \`${report.command}\`.`,
    `Database mode: **${report.databaseMode}**. ${report.rate} requests/s of one operation at a time (open model), ` +
      `${report.seconds} s per layer; each figure the median of ${report.rounds} rounds.`,
    'Each layer adds one part to the one above it; a share is the difference (a negative one is noise).',
    '',
  ];
  for (const operation of ['health', 'extrato', 'transacao'] as const)
    lines.push(...operationSection(report, operation));
  return `${lines.join('\n')}\n`;
}
