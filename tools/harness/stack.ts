// Starts the whole stack the way `npm start` does (the compiled launcher:
// embedded PostgreSQL, two instances, nginx) in a data directory of its own,
// and reads the launcher's state file to find every process it started.
// Used by the tests, the benchmark (--start) and the ledger checker.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LAUNCHER_ENTRY } from '../../src/stack/paths.js';
import { readStackState, type StackState } from '../../src/stack/state.js';
import { stopPgbackrestProcesses } from '../../src/stack/backup/pgbackrest.js';

const UP_TIMEOUT_MS = 90_000;

export interface RunningStack extends StartedProcess {
  port: number;
  baseUrl: string;
  dataDirectory: string;
  state(): StackState;
  /** Stops the stack and deletes its data directory. */
  dispose(): Promise<void>;
}

// One GET straight to one process's listen address, bypassing nginx.
export { getFromListenAddress } from '../../src/stack/http.js';

export function makeDataDirectory(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-stack-'));
  // PostgreSQL runs as its own user when the tests run as root.
  fs.chmodSync(directory, 0o755);
  return directory;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** 9999 when it is free (as CI and the public test expect), another free port otherwise. */
export async function stackPort(): Promise<number> {
  const free = await new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(9999, () => server.close(() => resolve(true)));
  });
  return free ? 9999 : freePort();
}

/**
 * Names a cluster made by the launcher's own initdb (createCluster) for startStack to copy into a new data directory,
 * where the launcher finds it made and skips initdb: about a second less per stack in the tests, which start dozens.
 * Unset, as everywhere but the tests that ask for it, the launcher makes its cluster itself.
 */
export const CLUSTER_TEMPLATE_VARIABLE = 'HARNESS_CLUSTER_TEMPLATE';

function copyClusterTemplate(template: string | undefined, dataDirectory: string): void {
  const cluster = path.join(dataDirectory, 'postgres');
  if (template === undefined || template === '' || fs.existsSync(cluster)) return;
  // cp -a keeps the files' owner (PostgreSQL's own user when the tests run as root) and modes.
  const copied = spawnSync('cp', ['-a', template, cluster], { encoding: 'utf8' });
  if (copied.status !== 0) throw new Error(`could not copy the cluster template ${template}: ${copied.stderr}`);
}

export interface StartedProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
  /** Resolves with its exit code. */
  exited: Promise<number | null>;
  /** Sends the signal (if it still runs) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs one of our compiled entry points as a child and waits until it says
 * it is ready, either by an IPC message of that type (an instance) or by a
 * line in its output (the launcher). Rejects, with its output, if it exits
 * or times out first.
 */
export async function startProcess(options: {
  name: string;
  entry: string;
  environment: Record<string, string | undefined>;
  readyWhen: { message: string } | { outputIncludes: string };
  readyTimeoutMs: number;
}): Promise<StartedProcess> {
  const { readyWhen } = options;
  const child = spawn(process.execPath, [options.entry], {
    stdio: 'message' in readyWhen ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.environment },
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${options.name} not ready in ${options.readyTimeoutMs} ms:\n${output}`)),
      options.readyTimeoutMs,
    );
    const ready = () => {
      clearTimeout(timer);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if ('outputIncludes' in readyWhen && output.includes(readyWhen.outputIncludes)) ready();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    if ('message' in readyWhen) {
      child.on('message', (message: { type?: string }) => {
        if (message.type === readyWhen.message) ready();
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited (${code}) before it was ready:\n${output}`));
    });
  });
  return {
    child,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function startStack(options: {
  port: number;
  dataDirectory: string;
  environment?: Record<string, string>;
}): Promise<RunningStack> {
  copyClusterTemplate({ ...process.env, ...options.environment }[CLUSTER_TEMPLATE_VARIABLE], options.dataDirectory);
  const launcher = await startProcess({
    name: 'the stack',
    entry: LAUNCHER_ENTRY,
    // Admin listeners on free ports, so that stacks started side by side
    // (tests run in parallel) never fight over 9201.
    environment: {
      PORT: String(options.port),
      CREBITO_DATA_DIR: options.dataDirectory,
      CREBITO_ADMIN_BASE_PORT: '0',
      ...options.environment,
    },
    // The launcher's JSON log line once every instance is ready.
    readyWhen: { outputIncludes: '"msg":"up on http' },
    readyTimeoutMs: UP_TIMEOUT_MS,
  });
  return {
    ...launcher,
    port: options.port,
    baseUrl: `http://127.0.0.1:${options.port}`,
    dataDirectory: options.dataDirectory,
    state: () => readStackState(options.dataDirectory),
    async dispose() {
      await launcher.stop();
      // A backup outlives a launcher killed with SIGKILL, and pgBackRest's
      // asynchronous archiver may still be shipping the last WAL segments
      // into <data>/backup for a moment after the server stops.
      await stopPgbackrestProcesses(options.dataDirectory);
      fs.rmSync(options.dataDirectory, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    },
  };
}
