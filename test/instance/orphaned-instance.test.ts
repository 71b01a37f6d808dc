// Regression: an instance whose parent died (a launcher killed with SIGKILL,
// a test runner gone) saw its IPC channel close and stopped, but never
// exited: its last log lines went to a stdout pipe nobody read any more, and
// the logger's synchronous flush at exit retried the broken pipe forever
// (sonic-boom 4). One such instance was found alive an hour after its test.

import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/shared/wait.js';
import { INSTANCE_ENTRY } from '../../src/stack/paths.js';
import { isProcessAlive } from '../../src/stack/processes.js';
import { freePort } from '../../tools/harness/stack.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const EXIT_WAIT_MS = 15_000;

let database: TestDatabase | undefined;
let orphan: number | undefined;

afterAll(async () => {
  if (orphan !== undefined && isProcessAlive(orphan)) process.kill(orphan, 'SIGKILL');
  await database?.close();
});

/** A parent that starts an instance with its stdout on a pipe, prints its pid once it serves, and exits at once. */
function parentThatDies(databaseUrl: string, port: number): string {
  return `
    const { spawn } = require('node:child_process');
    const child = spawn(process.execPath, [${JSON.stringify(INSTANCE_ENTRY)}], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, DATABASE_URL: ${JSON.stringify(databaseUrl)}, CREBITO_LISTEN: '127.0.0.1:${port}', CREBITO_INSTANCE_NAME: 'orphan' },
    });
    child.on('message', () => { process.stdout.write(String(child.pid), () => process.exit(0)); });`;
}

describe('an instance whose parent is gone', () => {
  it('regression: it stopped but never exited, its logger retrying a broken stdout pipe forever', async () => {
    database = await createTestDatabase();
    const parent = spawn(process.execPath, ['-e', parentThatDies(database.url, await freePort())], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let printed = '';
    parent.stdout.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
    });
    await new Promise((resolve) => parent.once('exit', resolve));
    orphan = Number(printed);
    expect(Number.isInteger(orphan) && orphan > 0, `the parent printed ${JSON.stringify(printed)}`).toBe(true);
    const exitedMs = await waitFor(() => !isProcessAlive(orphan!), { timeoutMs: EXIT_WAIT_MS, intervalMs: 50 });
    expect(exitedMs, `instance ${orphan} still runs ${EXIT_WAIT_MS} ms after its parent died`).toBeDefined();
  });
});
