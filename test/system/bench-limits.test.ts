// The bench's run under the public test's limits: the limits are read from
// docker-compose.yml (declared once there), and the cgroups it makes from
// them really hold a process to its memory and CPU. The cgroup tests need
// root and cgroup v1, as the bench's limited run does; without them they
// are skipped, saying why.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BenchCgroups,
  CFS_PERIOD_US,
  cgroupsUnavailableReason,
  type ComponentGroup,
} from '../../tools/bench/limits/cgroups.js';
import { parseMemoryBytes, readComposeLimits } from '../../tools/bench/limits/compose-limits.js';

const MIB = 1024 ** 2;

describe('compose limits', () => {
  it('reads every service of docker-compose.yml as the part of the local stack it stands for', () => {
    const limits = readComposeLimits();
    expect(limits.map((part) => [part.service, part.component])).toEqual([
      ['api1', 'api-1'],
      ['api2', 'api-2'],
      ['nginx', 'nginx'],
      ['db', 'postgres'],
    ]);
    for (const part of limits) {
      expect(part.cpus, part.service).toBeGreaterThan(0);
      expect(part.memoryBytes, part.service).toBeGreaterThan(0);
    }
  });

  it('reads sizes as docker does, in powers of 1024', () => {
    expect(parseMemoryBytes('90MB')).toBe(90 * MIB);
    expect(parseMemoryBytes('90m')).toBe(90 * MIB);
    expect(parseMemoryBytes('1.5g')).toBe(1.5 * 1024 * MIB);
    expect(parseMemoryBytes('512')).toBe(512);
    expect(() => parseMemoryBytes('ninety')).toThrow(/cannot read the memory size/);
    expect(() => parseMemoryBytes('90 parsecs')).toThrow(/cannot read the memory size/);
  });

  it('refuses a service without limits, naming it', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-compose-')), 'docker-compose.yml');
    fs.writeFileSync(
      file,
      'services:\n  nginx:\n    image: nginx:1.27-alpine\n    deploy: { resources: { limits: { cpus: "0.2" } } }\n',
    );
    expect(() => readComposeLimits(file)).toThrow(/service nginx declares no cpus and memory limits/);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});

/** A process that joins the group's cgroups first (as the nginx wrapper does), then runs `script` in node. */
function runInside(group: ComponentGroup, script: string): Promise<NodeJS.Signals | number | null> {
  const join = group.procsFiles.map((file) => `echo $$ > '${file}'`).join(' && ');
  const child = spawn('sh', ['-c', `${join} && exec "$0" -e "$1"`, process.execPath, script], { stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
}

const unavailable = cgroupsUnavailableReason();

describe.skipIf(unavailable !== undefined)(
  `cgroups for the limited run${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`,
  () => {
    it('holds a process to its memory limit: past it, the kernel kills the process and the group counts it', async () => {
      const cgroups = BenchCgroups.create([{ component: 'probe', service: 'probe', cpus: 1, memoryBytes: 48 * MIB }]);
      try {
        const group = cgroups.group('probe');
        const ended = await runInside(group, 'const kept = []; for (;;) kept.push(Buffer.alloc(8 * 1024 * 1024, 1));');
        expect(ended).toBe('SIGKILL');
        expect(group.counters().oomKills).toBe(1);
        expect(group.counters().peakChargeBytes).toBeGreaterThan(40 * MIB);
      } finally {
        expect(cgroups.remove()).toEqual([]);
      }
    });

    it("holds a process to its CPU quota, over docker's period, and removes its groups afterwards", async () => {
      const cgroups = BenchCgroups.create([
        { component: 'probe', service: 'probe', cpus: 0.1, memoryBytes: 256 * MIB },
      ]);
      const group = cgroups.group('probe');
      const cpuDirectory = path.dirname(group.procsFiles[0]!);
      expect(fs.readFileSync(path.join(cpuDirectory, 'cpu.cfs_period_us'), 'utf8').trim()).toBe(String(CFS_PERIOD_US));
      expect(fs.readFileSync(path.join(cpuDirectory, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe(
        String(0.1 * CFS_PERIOD_US),
      );
      // Busy for a second of wall time; a tenth of a CPU cannot keep it running through every period.
      expect(await runInside(group, 'const end = Date.now() + 1000; while (Date.now() < end);')).toBe(0);
      expect(group.counters().throttledPeriods).toBeGreaterThan(0);
      expect(cgroups.remove()).toEqual([]);
      for (const file of group.procsFiles) expect(fs.existsSync(path.dirname(file))).toBe(false);
    });

    it("tells whether a process is in a part's groups", () => {
      const cgroups = BenchCgroups.create([{ component: 'probe', service: 'probe', cpus: 1, memoryBytes: 256 * MIB }]);
      try {
        expect(cgroups.group('probe').holds(process.pid)).toBe(false);
        expect(() => cgroups.group('nothing')).toThrow(/no cgroup for nothing/);
      } finally {
        cgroups.remove();
      }
    });
  },
);
