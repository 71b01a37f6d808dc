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

// A port handed to a child to bind later (a stack's nginx, an admin listener, Prometheus) must stay free until the
// child binds it, seconds later. So it is taken from below the kernel's ephemeral range, where no outgoing connection
// and no listen on port 0 (the instances' admin listeners, every other run's tools) can land in the meantime; never
// 9999, the port a developer's own `npm start` uses; and reserved among every harness on the machine by an abstract
// unix socket this process holds until it exits (the kernel lets go of it however the process ends, as the launcher's
// lock does), so two runs side by side never pick the same one.
const PORT_LOW = 10_000;
const PORT_PICKS_MAX = 200;

/** A TCP port that no process listens on now, that no other harness will pick, and outside the ephemeral range. */
export async function freePort(): Promise<number> {
  const [low, high] = portRange();
  for (let pick = 0; pick < PORT_PICKS_MAX; pick += 1) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    const reservation = await bindOrUndefined(`\0crebito-harness-port-${port}`);
    if (reservation === undefined) continue;
    const probe = await bindOrUndefined(port);
    if (probe === undefined) {
      reservation.close();
      continue;
    }
    await new Promise((resolve) => probe.close(resolve));
    // Held until this process exits, without keeping it alive.
    reservation.unref();
    return port;
  }
  throw new Error(`no free port in ${low}-${high} after ${PORT_PICKS_MAX} picks`);
}

/** Where freePort picks from: between PORT_LOW and the ephemeral range, or above it when that leaves too few. */
function portRange(): [number, number] {
  let ephemeral = [32_768, 60_999];
  try {
    const fields = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (fields.length === 2 && fields.every(Number.isInteger)) ephemeral = fields;
  } catch {
    // Not Linux: the kernel's usual range.
  }
  const [first, last] = ephemeral as [number, number];
  return first - PORT_LOW >= 1_000 ? [PORT_LOW, first - 1] : [last + 1, 65_535];
}

/** Listens on a TCP port (every address, as nginx binds it) or an abstract socket name; undefined when taken. */
async function bindOrUndefined(address: number | string): Promise<net.Server | undefined> {
  const server = net.createServer((socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(undefined) : reject(error),
    );
    server.listen(address, () => resolve(server));
  });
}

/**
 * Names a cluster made by the launcher's own initdb (createCluster) for startStack to copy into a new data directory,
 * where the launcher finds it made and skips initdb: about a second less per stack in the tests, which start dozens.
 * Unset, as everywhere but the tests that ask for it, the launcher makes its cluster itself.
 */
export const CLUSTER_TEMPLATE_VARIABLE = 'HARNESS_CLUSTER_TEMPLATE';

/** Copies the template into dataDirectory's cluster unless no template is named or a cluster is there already. */
export function copyClusterTemplate(template: string | undefined, dataDirectory: string): void {
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
