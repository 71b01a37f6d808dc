// Starts the real, compiled API instance (dist/src/instance.js) as a child
// process on a free TCP port, exactly as the launcher would, and stops it
// with a real signal. Tests then talk to it over real sockets.

import { spawn, type ChildProcess } from 'node:child_process';
import { INSTANCE_ENTRY, LAUNCHER_ENTRY } from '../../src/config.js';
import { freePort } from '../../load/stack.js';

export { freePort, INSTANCE_ENTRY, LAUNCHER_ENTRY };
const READY_TIMEOUT_MS = 20_000;

export interface RunningInstance {
  baseUrl: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  /** Sends the signal and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startInstance(options: {
  databaseUrl: string;
  name?: string;
  port?: number;
  environment?: Record<string, string>;
}): Promise<RunningInstance> {
  const port = options.port ?? await freePort();
  let output = '';
  const child = spawn(process.execPath, [INSTANCE_ENTRY], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      CREBITO_INSTANCE_NAME: options.name ?? 'test',
      CREBITO_LISTEN: `127.0.0.1:${port}`,
      ...options.environment,
    },
  });
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance not ready in ${READY_TIMEOUT_MS} ms:\n${output}`)), READY_TIMEOUT_MS);
    child.on('message', (message: { type?: string }) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`instance exited (${code}) before it was ready:\n${output}`));
    });
  });

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
