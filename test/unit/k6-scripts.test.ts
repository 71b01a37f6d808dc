// k6 is not part of what npm installs (nor of CI), so the k6 scripts are
// checked for what can be checked without it: they parse, and they encode the
// public test's pass criteria as thresholds.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const loadScript = (name: string) => path.join(PROJECT_ROOT, 'load', name);

describe('k6 scripts', () => {
  it.each(['rinha.js', 'stress.js', 'pix.js'])('%s parses', (name) => {
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

  it('pix.js fails the run on any failed request, failed check or money not conserved', () => {
    const script = fs.readFileSync(loadScript('pix.js'), 'utf8');
    expect(script).toContain("http_req_failed: ['rate==0']");
    expect(script).toContain("checks: ['rate==1']");
    expect(script).toContain('export function teardown');
    expect(script).toContain('/transferencias');
    // k6 v0.48 cannot parse optional chaining.
    expect(script).not.toMatch(/\?\./);
  });
});
