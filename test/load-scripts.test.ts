// k6 is not installed here, so the k6 scripts are checked for what can be
// checked without it: they parse, and they encode the public test's pass
// criteria as thresholds. The benchmark runs for real, briefly.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/stack/paths.js';
import { freePort } from '../tools/harness/stack.js';

const loadScript = (name: string) => path.join(PROJECT_ROOT, 'load', name);

describe('k6 scripts', () => {
  it.each(['rinha.js', 'stress.js'])('%s parses', (name) => {
    const result = spawnSync(process.execPath, ['--check', loadScript(name)], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('rinha.js fails the run on any failed request, slow tail or inconsistency', () => {
    const script = fs.readFileSync(loadScript('rinha.js'), 'utf8');
    expect(script).toContain("http_req_failed: ['rate==0']");
    expect(script).toContain("http_req_duration: ['p(98)<250']");
    expect(script).toContain("inconsistencias: ['count==0']");
    expect(script).toContain('noVUConnectionReuse: true');
    for (const target of ['loadScenario(220', 'loadScenario(110', 'loadScenario(10']) expect(script).toContain(target);
  });
});

describe('npm run bench -- --smoke', () => {
  it('runs every scenario against a stack of its own with zero errors and zero inconsistencies', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-bench-'));
    const result = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'dist', 'tools', 'bench', 'main.js'), '--start', '--smoke', '--port', String(await freePort()), '--out', out], {
      encoding: 'utf8',
      timeout: 180_000,
    });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'smoke.json'), 'utf8'));
    expect(report.scenarios.map((scenario: { name: string }) => scenario.name))
      .toEqual(['http-floor', 'db-transacao', 'db-extrato', 'transacoes', 'extrato', 'mix', 'http-floor@half', 'mix@half']);
    for (const scenario of report.scenarios) {
      expect(scenario.requests, scenario.name).toBeGreaterThan(0);
      expect(scenario.errors + scenario.unexpectedStatuses, scenario.name).toBe(0);
    }
    expect(report.consistency).toMatchObject({ clients: 5, inconsistencies: 0 });
    expect(fs.readFileSync(path.join(out, 'smoke.svg'), 'utf8')).toMatch(/^<svg/);
    fs.rmSync(out, { recursive: true, force: true });
  });
});
