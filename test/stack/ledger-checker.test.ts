// The ledger checker run for real, briefly, against a stack of its own:
// without faults, with every fault injected, and up to a small history cap.
// Each must report valid.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { freePort } from '../../tools/harness/stack.js';
import { LEAN_STACK } from '../support/lean-stack.js';

const CHECKER = path.join(PROJECT_ROOT, 'dist', 'tools', 'ledger-check', 'main.js');

async function runChecker(
  extraArguments: string[],
  environment: Record<string, string> = {},
): Promise<{ status: number | null; output: string; verdict: any }> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-ledger-'));
  const result = spawnSync(
    process.execPath,
    [CHECKER, '--start', '--port', String(await freePort()), '--out', out, ...extraArguments],
    {
      encoding: 'utf8',
      env: { ...process.env, ...environment },
      timeout: 240_000,
    },
  );
  const file = fs.readdirSync(out).find((name) => name.endsWith('-verdict.json'));
  const verdict = file === undefined ? undefined : JSON.parse(fs.readFileSync(path.join(out, file), 'utf8'));
  fs.rmSync(out, { recursive: true, force: true });
  return { status: result.status, output: result.stdout + result.stderr, verdict };
}

describe('npm run check:ledger', () => {
  it('reports valid: true for a short run without faults', async () => {
    const { status, output, verdict } = await runChecker(['--duration', '6', '--clients', '12'], LEAN_STACK);
    expect(status, output).toBe(0);
    expect(output).toContain('valid: true');
    expect(verdict.valid).toBe(true);
    expect(verdict.verdict.transactions.acknowledged).toBeGreaterThan(0);
    expect(verdict.verdict.transactions.refused).toBeGreaterThan(0);
    expect(verdict.verdict.transactions.keyed).toBeGreaterThan(0);
    expect(verdict.verdict.statements.read).toBeGreaterThan(0);
  }, 300_000);

  it('reports valid: true with faults, and recovers from each', async () => {
    const { status, output, verdict } = await runChecker(['--duration', '40', '--clients', '12', '--faults']);
    expect(status, output).toBe(0);
    expect(verdict.valid).toBe(true);
    const names = [
      'kill-instance',
      'freeze-instance',
      'crash-postgres',
      'lock-row',
      'freeze-postgres',
      'slow-clients',
      'kill-nginx',
      'heavy-reader',
    ];
    expect(verdict.faults.map((fault: { name: string }) => fault.name)).toEqual(names);
    for (const fault of verdict.faults) expect(fault.recoveryMs, fault.name).not.toBeNull();
    // Each fault was injected for real: the frozen instance outlived the
    // launcher's patience, nginx came back, the heavy readers were answered.
    expect(verdict.faults[1].detail).toContain('the launcher restarted it');
    expect(verdict.faults[7].detail).toMatch(/\d+ × 200/);
    // And the availability verdict judged each fault's window.
    expect(verdict.availability.faults.map((fault: { name: string }) => fault.name)).toEqual(names);
    expect(verdict.availability.quiet.requests).toBeGreaterThan(0);
    expect(output).toContain('availability:');
    // The faults left keyed transactions without an answer, some of them
    // applied all the same, and retries with their keys found out what
    // happened without applying them again (invariant 6 judged each).
    expect(verdict.verdict.transactions.retriedResolved).toBeGreaterThan(0);
    expect(verdict.verdict.transactions.retriedReplayed).toBeGreaterThan(0);
  }, 300_000);

  it('stops sending at its history cap, says so, and judges every request it sent', async () => {
    // A cap far below what 60 s would send. valid: true also proves no request
    // went out unrecorded: invariant 1 fails on a stored row no recorded request asked for.
    const { status, output, verdict } = await runChecker(
      ['--duration', '60', '--clients', '8', '--max-operations', '300'],
      LEAN_STACK,
    );
    expect(status, output).toBe(0);
    expect(verdict.valid).toBe(true);
    expect(verdict.verdict.operations).toBe(300);
    expect(verdict.historyCap.maxOperations).toBe(300);
    expect(verdict.historyCap.fullAtMs).not.toBeNull();
    expect(output).toContain('history full: 300 operations');
  }, 300_000);
});
