// Runs the transfers bench (transfers.ts) against a target and writes its
// report to results/ (bench-transfers.json and .md); fails the run on any
// error, unexpected answer, inconsistency or deadlock.

import fs from 'node:fs';
import path from 'node:path';
import type { Target } from '../harness/target.js';
import type { MeasureOptions } from './measure.js';
import { setupFor } from './run-scenario.js';
import { measureTransfers, transferReportMarkdown } from './transfers.js';

export async function runTransferBench(target: Target, options: MeasureOptions, out: string): Promise<void> {
  const setup = setupFor(target.state());
  console.log(
    `bench --transfers: ${options.durationSeconds} s per scenario, ${options.connections} connections, ` +
      `${options.rounds} round(s), against ${setup.url}`,
  );
  const report = await measureTransfers(setup, target.dataDirectory, options);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'bench-transfers.json'), `${JSON.stringify(report, null, 2)}\n`);
  const markdown = transferReportMarkdown(report);
  fs.writeFileSync(path.join(out, 'bench-transfers.md'), markdown);
  console.log(markdown);
  const results = [report.publicRate, ...report.saturation.map((entry) => entry.result)];
  const failures = results.reduce((sum, result) => sum + result.errors + result.unexpectedStatuses, 0);
  if (failures > 0 || report.consistency.inconsistencies > 0 || !report.goals.deadlocks) {
    console.error(
      `bench --transfers: ${failures} errors or unexpected answers, ` +
        `${report.consistency.inconsistencies} inconsistencies, ${report.deadlocks.pgStatDatabase} deadlocks`,
    );
    console.error(target.outputTail(40));
    process.exitCode = 1;
  }
}
