// Regression: `.ci/run` installs with --no-install-recommends, and `ip`
// (iproute2, which the HA profile needs for its network namespaces) is only
// recommended by patroni: a fresh machine would have failed the HA tests.
// The README's list of system packages had fallen behind .ci/run's too.
// Both lists are now one fact: what .ci/run installs is what the README says.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const ci = fs.readFileSync(path.join(PROJECT_ROOT, '.ci/run'), 'utf8');
const readme = fs.readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');

/** Every package .ci/run adds when something is missing: `missing+=(a b)`. */
function ciPackages(): string[] {
  return [...ci.matchAll(/missing\+=\(([^)]*)\)/g)].flatMap(([, names]) => names!.trim().split(/\s+/)).sort();
}

/** The README's one `apt-get install --no-install-recommends ...` line, as .ci/run runs it. */
function readmePackages(): string[] {
  const line = /`apt-get install --no-install-recommends ([a-z0-9 .+-]+)`/.exec(readme);
  expect(line, 'the README names the system packages the tests need').not.toBeNull();
  return line![1]!.trim().split(/\s+/).sort();
}

describe('the system packages the tests need', () => {
  it('are the same in .ci/run and the README', () => {
    expect(ciPackages().length).toBeGreaterThan(0);
    expect(readmePackages()).toEqual(ciPackages());
  });

  it('regression: include iproute2, which patroni only recommends', () => {
    expect(ciPackages()).toContain('iproute2');
    expect(ci).toContain('--no-install-recommends');
  });
});
