// Starts the real, compiled API instance (dist/src/instance/main.js) as a child
// process on a free TCP port, exactly as the launcher would, and stops it
// with a real signal. Tests then talk to it over real sockets.

import { INSTANCE_ENTRY } from '../../src/stack/paths.js';
import { freePort, startProcess, type StartedProcess } from '../../tools/harness/stack.js';

const INSTANCE_READY_TIMEOUT_MS = 20_000;

export interface RunningInstance extends StartedProcess {
  baseUrl: string;
  port: number;
  /** Its admin listener (/health with the pid and ledger numbers, /metrics), as the launcher gives every instance one. */
  admin: string;
}

export async function startInstance(options: {
  databaseUrl: string;
  name?: string;
  port?: number;
  environment?: Record<string, string>;
}): Promise<RunningInstance> {
  const port = options.port ?? (await freePort());
  const adminPort = await freePort();
  const instance = await startProcess({
    name: 'instance',
    entry: INSTANCE_ENTRY,
    environment: {
      DATABASE_URL: options.databaseUrl,
      CREBITO_INSTANCE_NAME: options.name ?? 'test',
      CREBITO_LISTEN: `127.0.0.1:${port}`,
      CREBITO_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      // The warm-up (a few seconds of requests to itself at start) is tested by http-warm-up.test.ts, which sets it.
      CREBITO_WARM_UP_REQUESTS: '0',
      ...options.environment,
    },
    readyWhen: { message: 'ready' },
    readyTimeoutMs: INSTANCE_READY_TIMEOUT_MS,
  });
  return {
    ...instance,
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    admin: options.environment?.CREBITO_ADMIN_LISTEN ?? `127.0.0.1:${adminPort}`,
  };
}

/**
 * Starts several instances at once. If one cannot start, the others are
 * stopped before the error is thrown: a test whose setup fails has no
 * handle on them, and they would outlive it.
 */
export async function startInstances(options: Parameters<typeof startInstance>[0][]): Promise<RunningInstance[]> {
  const started = await Promise.allSettled(options.map((each) => startInstance(each)));
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  const running = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  if (failed === undefined) return running;
  await Promise.all(running.map((instance) => instance.stop()));
  throw failed.reason;
}
