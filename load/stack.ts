// Starts the whole stack the way `npm start` does (the compiled launcher:
// embedded PostgreSQL, two instances, nginx) in a data directory of its own,
// and reads the launcher's state file to find every process it started.
// Used by the tests, the benchmark (--start) and the ledger checker.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LAUNCHER_ENTRY, parseListenTarget } from '../src/config.js';
import type { StackState } from '../src/launcher.js';

const UP_TIMEOUT_MS = 90_000;

export interface RunningStack {
  port: number;
  baseUrl: string;
  dataDirectory: string;
  child: ChildProcess;
  output: () => string;
  state(): StackState;
  /** Resolves with the launcher's exit code. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Stops the stack and deletes its data directory. */
  dispose(): Promise<void>;
}

/**
 * One GET straight to a listen address as the launcher writes it
 * (`unix:/path.sock` or `host:port`), bypassing nginx: how the tools ask one
 * instance for itself. Resolves with the status and body, or undefined when
 * nothing answered within timeoutMs.
 */
export function getFromListenAddress(listen: string, pathName: string, timeoutMs: number): Promise<{ status: number; body: string } | undefined> {
  const target = parseListenTarget(listen);
  const address = target.kind === 'unix' ? { socketPath: target.path } : { host: target.host, port: target.port };
  return new Promise((resolve) => {
    const request = http.get({ ...address, path: pathName, agent: false, timeout: timeoutMs }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', () => resolve(undefined));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}

/** The state file of the stack running on a data directory, with a clear error when none runs. */
export function readStackState(dataDirectory: string): StackState {
  const statePath = path.join(dataDirectory, 'run', 'state.json');
  if (!fs.existsSync(statePath)) {
    throw new Error(`no running stack found (${statePath} is missing): start one with \`npm start\`, or pass --start`);
  }
  return JSON.parse(fs.readFileSync(statePath, 'utf8')) as StackState;
}

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

export async function startStack(options: { port: number; dataDirectory: string; environment?: Record<string, string> }): Promise<RunningStack> {
  let output = '';
  const child = spawn(process.execPath, [LAUNCHER_ENTRY], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: String(options.port), CREBITO_DATA_DIR: options.dataDirectory, ...options.environment },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack not up in ${UP_TIMEOUT_MS} ms:\n${output}`)), UP_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('[crebito] up on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`launcher exited (${code}) before the stack was up:\n${output}`));
    });
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return {
    port: options.port,
    baseUrl: `http://127.0.0.1:${options.port}`,
    dataDirectory: options.dataDirectory,
    child,
    output: () => output,
    state: () => readStackState(options.dataDirectory),
    exited,
    stop,
    async dispose() {
      await stop();
      fs.rmSync(options.dataDirectory, { recursive: true, force: true });
    },
  };
}
