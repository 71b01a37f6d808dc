// The benchmark runs for real, briefly, against a stack of its own, and under
// the compose limits too where this machine can make cgroups.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { cgroupsUnavailableReason } from '../../tools/bench/limits/cgroups.js';
import type { BenchReport } from '../../tools/bench/report/report.js';
import type { LatencyLimit } from '../../tools/bench/latency/public-latency.js';
import { freePort } from '../../tools/harness/stack.js';
import { LEAN_STACK } from '../support/lean-stack.js';

const SATURATION = ['http-floor', 'db-transacao', 'db-extrato', 'transacoes', 'extrato', 'mix'];
const FIXED_RATES = [
  'mix@public',
  'http-floor@public',
  'mix@public-warm',
  'db-alone@public',
  ...['25%', '50%', '75%'].flatMap((rate) => [`http-floor@${rate}`, `mix@${rate}`]),
];

describe('npm run bench -- --smoke', () => {
  it('runs every scenario against a stack of its own, and under the compose limits, with zero errors and zero inconsistencies', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-bench-'));
    const result = spawnSync(
      process.execPath,
      [
        path.join(PROJECT_ROOT, 'dist', 'tools', 'bench', 'main.js'),
        '--start',
        '--smoke',
        '--port',
        String(await freePort()),
        '--out',
        out,
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, ...LEAN_STACK },
        timeout: 180_000,
      },
    );
    expect(result.status, result.stdout + result.stderr).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'smoke.json'), 'utf8')) as BenchReport;
    expect(report.scenarios.map((scenario) => scenario.name)).toEqual([...SATURATION, ...FIXED_RATES]);
    for (const scenario of [...report.scenarios, ...report.limited.scenarios]) {
      expect(scenario.requests, scenario.name).toBeGreaterThan(0);
      expect(scenario.errors + scenario.unexpectedStatuses, scenario.name).toBe(0);
    }
    expect(
      report.scenarios
        .filter((scenario) => scenario.model.kind === 'open')
        .every((scenario) => scenario.sendLagMs !== undefined),
    ).toBe(true);
    expect(report.startup.upSeconds).toBeGreaterThan(0);
    expect(report.startup.instanceRestartSeconds).toBeGreaterThan(0);
    expect(report.calibration.requestsPerSecond).toBeGreaterThan(0);
    expect(report.calibration.secondRequestsPerSecond).toBeGreaterThan(0);
    expect(report.consistency).toMatchObject({ clients: 5, inconsistencies: 0 });
    expect(report.targets.map((target) => target.name).join('\n')).toMatch(/calibration/);
    expect(fs.readFileSync(path.join(out, 'smoke.svg'), 'utf8')).toMatch(/^<svg/);
    expect(fs.readFileSync(path.join(out, 'smoke.md'), 'utf8')).toMatch(/\*\*Calibration\*\*/);
    expectLimitedRun(report);
    expectLatencyLimit(JSON.parse(fs.readFileSync(path.join(out, 'latency-durable.json'), 'utf8')) as LatencyLimit);
    fs.rmSync(out, { recursive: true, force: true });
    // As long as the bench itself may take: a busy machine stretches every one of its runs.
  }, 180_000);
});

/** The public rate against its limit: both references ran by their second generators, and the breakdown read every hop. */
function expectLatencyLimit(latency: LatencyLimit): void {
  expect(latency.limit.p50).toBeCloseTo(latency.floor.p50 + latency.database.p50, 6);
  expect(latency.references.map((reference) => reference.name)).toEqual([
    'db-alone@public, by pgbench',
    'http-floor@public, by wrk (paced)',
  ]);
  for (const reference of latency.references) expect(reference.latencyMs.p50, reference.name).toBeGreaterThan(0);
  const hops = latency.breakdown?.hops.map((hop) => hop.hop).join('\n') ?? '';
  for (const hop of [/nginx itself/, /instance(, \w+)?: first byte/, /PostgreSQL: execute registrar_transacao/])
    expect(hops).toMatch(hop);
}

/** Where cgroups can be made, the limited run ran with every part of the stack inside its limits' groups; elsewhere it says why not. */
function expectLimitedRun(report: BenchReport): void {
  const unavailable = cgroupsUnavailableReason();
  expect(report.limited.skipped).toBe(unavailable);
  if (unavailable !== undefined) return;
  expect(report.limited.scenarios.map((scenario) => scenario.name)).toEqual(['mix', 'mix@public']);
  expect(report.limited.components.map((part) => part.name).sort()).toEqual(['api-1', 'api-2', 'nginx', 'postgres']);
  for (const part of report.limited.components) expect(part.peakChargedMegabytes, part.name).toBeGreaterThan(0);
  expect(report.limited.consistency).toMatchObject({ clients: 5, inconsistencies: 0 });
  expect(report.limited.leftovers).toEqual([]);
}
