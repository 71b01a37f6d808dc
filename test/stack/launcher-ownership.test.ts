// Regressions: the launcher must be certain a process is its own before it
// signals one, and certain it is the only launcher on a data directory.
// Killing strangers: leftovers were recognised by command name alone, so a
// stale nginx.pid or state.json (after a reboot, say) that named someone
// else's nginx or node process had that process stopped. Two launchers at
// once: the lock was read, then written, so both passed it, and the second
// stopped the first one's PostgreSQL as if it were a leftover.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { findNginx } from '../../src/stack/nginx.js';
import { identifyProcess, isProcessAlive, isSameProcess } from '../../src/stack/processes.js';
import {
  freePort,
  getFromListenAddress,
  makeDataDirectory,
  startStack,
  type RunningStack,
} from '../../tools/harness/stack.js';
import { getStatement, postTransaction } from '../support/http.js';
import { LEAN_STACK } from '../support/lean-stack.js';

const FOREIGN_READY_TIMEOUT_MS = 10_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track(stack: RunningStack): RunningStack {
  cleanups.push(() => stack.dispose());
  return stack;
}

const FOREIGN_STOP_TIMEOUT_MS = 5000;

/**
 * Stops a stranger the test started: SIGTERM first, because an nginx master
 * killed with SIGKILL leaves its workers running, orphaned, on their port.
 */
function stopOnCleanup(child: ChildProcess): void {
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), FOREIGN_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  });
}

/** An nginx someone else runs: its own prefix, configuration and port. */
async function startForeignNginx(): Promise<{ child: ChildProcess; listen: string }> {
  const binary = findNginx();
  if (binary === undefined) throw new Error('nginx is not installed (Debian/Ubuntu: apt-get install nginx)');
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-foreign-nginx-'));
  cleanups.push(() => fs.rmSync(prefix, { recursive: true, force: true }));
  const listen = `127.0.0.1:${await freePort()}`;
  const temporaryPaths = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `${kind}_temp_path ${path.join(prefix, kind)};`)
    .join(' ');
  const configPath = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(
    configPath,
    `daemon off; pid ${path.join(prefix, 'nginx.pid')}; error_log stderr warn;
events {}
http { access_log off; ${temporaryPaths} server { listen ${listen}; location / { return 200 "foreign"; } } }
`,
  );
  const child = spawn(binary, ['-p', prefix, '-c', configPath], { stdio: 'ignore' });
  stopOnCleanup(child);
  await waitForOrThrow(
    'the foreign nginx answering',
    async () => (await getFromListenAddress(listen, '/', 1000))?.body === 'foreign',
    { timeoutMs: FOREIGN_READY_TIMEOUT_MS, intervalMs: 50, abandonWhen: () => child.exitCode !== null },
  );
  return { child, listen };
}

/** A node process someone else runs: it only waits. */
function startForeignNode(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => undefined, 60_000)'], { stdio: 'ignore' });
  stopOnCleanup(child);
  return child;
}

/** The run files a launcher of the previous version wrote: pids only. */
function writeStaleRunFiles(dataDirectory: string, pids: { nginx: number; instance: number }): void {
  const runDirectory = path.join(dataDirectory, 'run');
  fs.mkdirSync(runDirectory, { recursive: true });
  fs.writeFileSync(path.join(runDirectory, 'nginx.pid'), `${pids.nginx}\n`);
  fs.writeFileSync(
    path.join(runDirectory, 'state.json'),
    JSON.stringify({
      launcherPid: 1,
      port: 9999,
      mode: 'nginx',
      databaseMode: 'durable',
      poolClientsMax: 4,
      databaseUrl: '',
      nginx: { pid: pids.nginx },
      instances: [{ name: 'api-1', pid: pids.instance, listen: path.join(runDirectory, 'api-1.sock'), restarts: 0 }],
      postgres: null,
    }),
  );
}

describe('regression: killing strangers', () => {
  it('a foreign nginx and a foreign node process named by stale nginx.pid and state.json survive npm start', async () => {
    const nginx = await startForeignNginx();
    const node = startForeignNode();
    const dataDirectory = makeDataDirectory();
    writeStaleRunFiles(dataDirectory, { nginx: nginx.child.pid!, instance: node.pid! });

    const stack = track(await startStack({ port: await freePort(), dataDirectory, environment: LEAN_STACK }));
    expect((await getStatement(stack.baseUrl, 1)).status).toBe(200);

    expect(stack.output()).not.toContain('did not stop cleanly');
    expect(isProcessAlive(nginx.child.pid!)).toBe(true);
    expect((await getFromListenAddress(nginx.listen, '/', 5000))?.body).toBe('foreign');
    expect(isProcessAlive(node.pid!)).toBe(true);
    expect(node.exitCode).toBeNull();
  });

  it('a stale launcher.pid naming a foreign node process does not stop npm start', async () => {
    const node = startForeignNode();
    const dataDirectory = makeDataDirectory();
    fs.mkdirSync(path.join(dataDirectory, 'run'));
    fs.writeFileSync(path.join(dataDirectory, 'run', 'launcher.pid'), `${node.pid}\n`);

    const stack = track(await startStack({ port: await freePort(), dataDirectory, environment: LEAN_STACK }));
    expect((await getStatement(stack.baseUrl, 1)).status).toBe(200);
    expect(isProcessAlive(node.pid!)).toBe(true);
  });
});

// Started at the same moment, two launchers still reach their lock tens of
// milliseconds apart (process start-up varies that much), so a lock that is
// read and then written is rarely raced by chance. The preload pauses each
// launcher for a second whenever it reads launcher.pid, which makes the race
// certain for such a lock and changes nothing for one taken atomically.
const SLOW_LOCK_READS = path.join(import.meta.dirname, '..', 'support', 'slow-launcher-lock-reads.cjs');

describe('regression: two launchers at once', () => {
  it('on one data directory: exactly one comes up, the other refuses, and the first keeps serving', async () => {
    const dataDirectory = makeDataDirectory();
    const port = await freePort();
    // A cluster that exists already, as on any start but the first: both
    // launchers go straight to starting PostgreSQL on it.
    await (await startStack({ port, dataDirectory, environment: LEAN_STACK })).stop();
    const environment = { ...LEAN_STACK, NODE_OPTIONS: `--require ${SLOW_LOCK_READS}` };
    const outcomes = await Promise.allSettled([
      startStack({ port, dataDirectory, environment }),
      startStack({ port, dataDirectory, environment }),
    ]);
    const up = outcomes.filter(
      (outcome): outcome is PromiseFulfilledResult<RunningStack> => outcome.status === 'fulfilled',
    );
    for (const outcome of up) track(outcome.value);
    const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');

    expect(up).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(String(refused[0]!.reason)).toMatch(/already running/);
    const stack = up[0]!.value;
    const state = stack.state();
    expect(isProcessAlive(state.postgres!.pid)).toBe(true);
    const write = await postTransaction(stack.baseUrl, 2, { valor: 10, tipo: 'c', descricao: 'sozinho' });
    expect(write.status).toBe(200);
    expect((await getStatement(stack.baseUrl, 2)).body.ultimas_transacoes[0]).toMatchObject({ descricao: 'sozinho' });
    expect(stack.state().postgres!.pid).toBe(state.postgres!.pid);
  });
});

describe('a process identity', () => {
  it('matches the process it was read from, and nothing that differs in start time, boot or pid', async () => {
    const node = startForeignNode();
    const identity = identifyProcess(node.pid!)!;
    expect(identity).toMatchObject({ pid: node.pid });
    expect(isSameProcess(identity)).toBe(true);
    // As after a reboot, or a pid handed to a later process.
    expect(isSameProcess({ ...identity, bootId: 'another boot' })).toBe(false);
    expect(isSameProcess({ ...identity, startTime: identity.startTime + 1 })).toBe(false);
    // As an older launcher's state.json recorded it: a pid alone.
    expect(isSameProcess({ pid: identity.pid })).toBe(false);

    const exited = new Promise((resolve) => node.once('exit', resolve));
    node.kill('SIGKILL');
    await exited;
    expect(isSameProcess(identity)).toBe(false);
  });
});
