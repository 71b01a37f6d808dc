// Owns one child process of the launcher from spawn to exit: starting it and
// knowing when it serves (or that it never will), recording its identity,
// keeping the last of what it printed when its output is piped, and stopping
// it with its own graceful signal and then a harder one after a deadline.
// Whether to start another when it dies is the supervisor's business.

import type { StackLog } from '../shared/log.js';
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { identifyProcess, type ProcessIdentity } from './processes.js';

// Enough of a failed start's output to say why, bounded.
const RECENT_OUTPUT_CHARS_MAX = 4000;

// The deadlines a child the launcher runs gets unless it needs its own (the
// embedded PostgreSQL's checkpoint at stop, the HA nodes' recovery): long
// enough for a loaded machine, short enough that a stuck start fails, and
// how often its readiness is asked meanwhile.
export const CHILD_READY_TIMEOUT_MS = 30_000;
export const CHILD_STOP_TIMEOUT_MS = 10_000;
export const CHILD_POLL_INTERVAL_MS = 100;

export interface Child {
  readonly identity: ProcessIdentity;
  /** Resolves once it has exited, whoever stopped it, with how: `exit code 1`, `signal SIGKILL`. */
  readonly exited: Promise<string>;
  /** Sends the stop signal, then the force signal after the deadline; resolves once it has exited. */
  stop(): Promise<void>;
}

export interface ChildOptions {
  name: string;
  command: string;
  args: string[];
  spawnOptions: SpawnOptions;
  /** Resolves when the freshly spawned child serves. */
  waitUntilReady: (child: ChildProcess) => Promise<void>;
  readyTimeoutMs: number;
  stopSignal: NodeJS.Signals;
  stopTimeoutMs: number;
  /** Sent when stopSignal has not ended it within stopTimeoutMs. */
  forceSignal: NodeJS.Signals;
  log: StackLog;
  /** Given everything the child writes to stderr, when stderr is piped (after the recent output keeps its tail). */
  onStderr?: (chunk: Buffer) => void;
}

/** Whether the child has exited (or died by a signal): the one way every start and stop asks it. */
export const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Spawns the child and resolves once it serves; if it cannot, stops it, waits for its exit, and throws why. */
export async function startChild(options: ChildOptions): Promise<Child> {
  const child = await spawnOrThrow(options);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code === null ? `signal ${signal}` : `exit code ${code}`));
  });
  const recentOutput = rememberOutput(child);
  if (options.onStderr !== undefined) child.stderr?.on('data', options.onStderr);
  // Read before anything can reap it: until then even a dead child keeps its entry in /proc.
  const identity = identifyProcess(child.pid!);
  const stop = async () => {
    if (hasExited(child)) return;
    child.kill(options.stopSignal);
    const timer = setTimeout(() => {
      options.log.warn(
        `${options.name} did not stop within ${options.stopTimeoutMs} ms; sending ${options.forceSignal}`,
      );
      child.kill(options.forceSignal);
    }, options.stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };
  try {
    if (identity === undefined)
      throw new Error(`cannot read /proc/${child.pid}/stat: the launcher needs Linux's /proc`);
    await waitUntilReady(child, exited, options);
  } catch (error) {
    await stop();
    const output = recentOutput();
    throw new Error(`${(error as Error).message}${output === '' ? '' : `:\n${output}`}`, { cause: error });
  }
  return { identity, exited, stop };
}

async function spawnOrThrow(options: ChildOptions): Promise<ChildProcess> {
  const child = spawn(options.command, options.args, options.spawnOptions);
  if (child.pid !== undefined) return child;
  const error = await new Promise<Error>((resolve) => child.once('error', resolve));
  throw new Error(`cannot start ${options.name} (${options.command}): ${error.message}`);
}

/** Keeps the tail of a piped child's output (and keeps its pipes drained, so it never blocks writing). */
function rememberOutput(child: ChildProcess): () => string {
  let recent = '';
  const remember = (chunk: Buffer) => {
    recent = (recent + chunk.toString('utf8')).slice(-RECENT_OUTPUT_CHARS_MAX);
  };
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);
  return () => recent;
}

async function waitUntilReady(child: ChildProcess, exited: Promise<string>, options: ChildOptions): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    void exited.then((how) => reject(new Error(`${options.name} exited while starting (${how})`)));
    timer = setTimeout(
      () => reject(new Error(`${options.name} was not ready within ${options.readyTimeoutMs} ms`)),
      options.readyTimeoutMs,
    );
  });
  try {
    await Promise.race([options.waitUntilReady(child), failed]);
  } finally {
    clearTimeout(timer);
  }
}
