// Whoever reads stdout decides the log's form: a terminal gets readable lines,
// a pipe (a supervisor, a file, a log collector) gets JSON, one object a line.
// The compiled logger runs in a process of its own, under a real pseudo-
// terminal (util-linux's script) and on a pipe.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const LOG_MODULE = path.join(PROJECT_ROOT, 'dist', 'src', 'shared', 'log.js');
const PROGRAM = `
  const { createLog, flushAndExit } = await import(${JSON.stringify(LOG_MODULE)});
  const log = createLog({ program: 'stack', name: 'crebito', level: 'info' });
  log.info({ port: 9999 }, 'up');
  await flushAndExit(log, 0);`;
const nodeCommand = [process.execPath, '--input-type=module', '-e', PROGRAM];

describe('the log at a terminal and on a pipe', () => {
  it('a terminal gets readable lines', () => {
    const quoted = nodeCommand.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
    const result = spawnSync('script', ['-qec', quoted, '/dev/null'], { encoding: 'utf8', timeout: 20_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  crebito\[\d+\] up port=9999\r?\n$/);
  });

  it('a pipe gets one JSON object a line, as before', () => {
    const result = spawnSync(nodeCommand[0]!, nodeCommand.slice(1), { encoding: 'utf8', timeout: 20_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      level: 30,
      program: 'stack',
      name: 'crebito',
      msg: 'up',
      port: 9999,
    });
  });
});
