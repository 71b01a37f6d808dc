// The entry point of `npm start`: brings up the whole stack on one machine and
// takes it down again. In order: the database (embedded PostgreSQL, or the one
// DATABASE_URL names), the schema, the API instances, and nginx in front on
// PORT. Without nginx on the machine, the instances share PORT themselves.
// SIGINT/SIGTERM stop everything in the reverse order: nginx finishes what it
// holds, the instances drain, the database stops last. Children that die on
// their own are restarted. The pids of everything running are written to
// <data>/run/state.json for the benchmark and the ledger checker.

import { type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { environmentFor } from '../shared/settings.js';
import { waitForOrThrow } from '../shared/wait.js';
import { readLauncherConfig, type LauncherConfig } from './config.js';
import { INSTANCE_ENTRY } from './paths.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { findNginx, writeNginxConfig } from './nginx.js';
import { isRunningAs, processCommandName, readPidFile, waitForExit } from './processes.js';
import { applySchema } from './schema.js';
import { stateFilePath, writeStackState, type StackState } from './state.js';
import { Supervised } from './supervisor.js';

const READY_TIMEOUT_MS = 30_000;
const LEFTOVER_STOP_TIMEOUT_MS = 15_000;


const log = (line: string) => console.log(`[crebito] ${line}`);

// Set by main once signal handling is in place, so a failed start can stop
// whatever did start, in order, and exit non-zero.
let shutdown: ((reason: string, exitCode: number) => Promise<void>) | undefined;

/** One launcher per data directory: a second one would fight the first over the database. */
function acquireLauncherLock(runDirectory: string): void {
  const lockFile = path.join(runDirectory, 'launcher.pid');
  const holder = readPidFile(lockFile);
  if (holder !== process.pid && isRunningAs(holder, 'node')) {
    throw new Error(`crebito is already running (launcher pid ${holder}) on ${path.dirname(runDirectory)}; stop it first with: kill -TERM ${holder}`);
  }
  fs.writeFileSync(lockFile, `${process.pid}\n`);
}

/** Stops processes a launcher killed with SIGKILL left behind (nginx, instances). */
async function stopLeftovers(runDirectory: string): Promise<void> {
  const leftovers: { pid: number; signal: NodeJS.Signals }[] = [];
  const nginxPid = readPidFile(path.join(runDirectory, 'nginx.pid'));
  if (isRunningAs(nginxPid, 'nginx')) {
    leftovers.push({ pid: nginxPid, signal: 'SIGQUIT' });
  }
  try {
    const state = JSON.parse(fs.readFileSync(stateFilePath(runDirectory), 'utf8')) as StackState;
    for (const instance of state.instances) {
      if (isRunningAs(instance.pid, 'node')) {
        leftovers.push({ pid: instance.pid, signal: 'SIGTERM' });
      }
    }
  } catch {
    // No state from an earlier run: nothing of ours can be left.
  }
  for (const { pid, signal } of leftovers) {
    log(`stopping pid ${pid} (${processCommandName(pid)}) left running by a crebito that did not stop cleanly`);
    process.kill(pid, signal);
    if (!(await waitForExit(pid, LEFTOVER_STOP_TIMEOUT_MS))) process.kill(pid, 'SIGKILL');
  }
}

function waitForMessage(child: ChildProcess, type: string): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      if ((message as { type?: unknown }).type === type) {
        child.off('message', onMessage);
        resolve();
      }
    };
    child.on('message', onMessage);
  });
}

const PORT_POLL_INTERVAL_MS = 50;

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  await waitForOrThrow(`nginx accepting connections on port ${port}`, () => acceptsConnections(port), {
    timeoutMs: READY_TIMEOUT_MS,
    intervalMs: PORT_POLL_INTERVAL_MS,
    abandonWhen: () => child.exitCode !== null || child.signalCode !== null,
  });
}

function createInstance(config: LauncherConfig, index: number, listen: string, databaseUrl: string, onStarted: () => void): Supervised {
  const name = `api-${index + 1}`;
  return new Supervised({
    name,
    command: process.execPath,
    args: [...config.instanceNodeArguments, INSTANCE_ENTRY],
    spawnOptions: {
      // Its own process group, so a terminal Ctrl-C reaches only the launcher,
      // which then stops everything in order. The IPC channel lets the
      // instance notice when the launcher is gone, even after a SIGKILL.
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        ...environmentFor({ ...config.instance, databaseUrl, instanceName: name, listen }),
      },
    },
    waitUntilReady: (child) => waitForMessage(child, 'ready'),
    readyTimeoutMs: READY_TIMEOUT_MS,
    stopSignal: 'SIGTERM',
    stopTimeoutMs: config.instance.shutdownTimeoutMs + 2000,
    log,
    onStarted,
  });
}

async function main(): Promise<void> {
  const config = readLauncherConfig(process.env);
  const runDirectory = path.join(config.dataDirectory, 'run');
  fs.mkdirSync(runDirectory, { recursive: true });
  acquireLauncherLock(runDirectory);
  await stopLeftovers(runDirectory);

  // Set before anything starts, so a Ctrl-C during start-up still cleans up.
  let stopping = false;
  let postgres: EmbeddedPostgres | undefined;
  let nginx: Supervised | undefined;
  const instances: Supervised[] = [];
  let databaseUrl = config.databaseUrl ?? '';
  let mode: StackState['mode'] = 'direct';

  const writeState = () => {
    const state: StackState = {
      launcherPid: process.pid,
      port: config.port,
      mode,
      databaseMode: config.databaseUrl === undefined ? config.databaseMode : null,
      poolClientsMax: config.instance.poolClientsMax,
      databaseUrl,
      nginx: nginx === undefined ? null : { pid: nginx.pid },
      instances: instances.map((instance, index) => ({ name: instance.name, pid: instance.pid, listen: listenAddresses[index] ?? '', restarts: instance.restarts })),
      postgres: postgres === undefined ? null : { pid: postgres.pid, dataDirectory: path.join(config.dataDirectory, 'postgres') },
    };
    writeStackState(runDirectory, state);
  };

  const stopAll = async (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    log(`${reason}: stopping`);
    await nginx?.stop();
    await Promise.all(instances.map((instance) => instance.stop()));
    await postgres?.stop();
    fs.rmSync(stateFilePath(runDirectory), { force: true });
    fs.rmSync(path.join(runDirectory, 'launcher.pid'), { force: true });
    log('stopped');
    process.exit(exitCode);
  };
  shutdown = stopAll;
  process.on('SIGINT', () => void stopAll('SIGINT', 0));
  process.on('SIGTERM', () => void stopAll('SIGTERM', 0));

  const startDatabase = async (): Promise<void> => {
    postgres = await startEmbeddedPostgres({
      dataDirectory: path.join(config.dataDirectory, 'postgres'),
      socketDirectory: path.join(runDirectory, 'postgres'),
      port: config.embeddedPostgresPort,
      mode: config.databaseMode,
      log,
    });
    databaseUrl = postgres.databaseUrl;
    // The database is the one part every request needs: if it dies on its
    // own, bring it back; the instances' pools reconnect by themselves.
    const current = postgres;
    void current.exited.then(async () => {
      if (stopping || postgres !== current) return;
      log(`PostgreSQL (pid ${current.pid}) exited unexpectedly; restarting it`);
      for (let attempt = 1; !stopping; attempt++) {
        try {
          await startDatabase();
          writeState();
          return;
        } catch (error) {
          log(`restarting PostgreSQL failed (attempt ${attempt}): ${(error as Error).message}`);
          await new Promise((resolve) => setTimeout(resolve, Math.min(attempt * 500, 5000)));
        }
      }
    });
  };

  if (config.databaseUrl === undefined) await startDatabase();
  else log('using the PostgreSQL at DATABASE_URL');
  await applySchema(databaseUrl);

  const nginxBinary = config.nginx === 'off' ? undefined : findNginx();
  let listenAddresses: string[];
  if (nginxBinary === undefined) {
    log(config.nginx === 'off'
      ? `CREBITO_NGINX=off: the ${config.instanceCount} instances share port ${config.port} directly`
      : `nginx is not installed (Debian/Ubuntu: apt-get install nginx); the ${config.instanceCount} instances share port ${config.port} directly`);
    listenAddresses = Array.from({ length: config.instanceCount }, () => String(config.port));
  } else {
    mode = 'nginx';
    listenAddresses = Array.from({ length: config.instanceCount }, (_, index) => config.upstreamTransport === 'unix'
      ? `unix:${path.join(runDirectory, `api-${index + 1}.sock`)}`
      : `127.0.0.1:${config.instanceBasePort + index}`);
  }

  for (let index = 0; index < config.instanceCount; index++) {
    instances.push(createInstance(config, index, listenAddresses[index] as string, databaseUrl, writeState));
  }
  await Promise.all(instances.map((instance) => instance.start()));

  if (nginxBinary !== undefined) {
    const configPath = writeNginxConfig(nginxBinary, {
      port: config.port,
      runDirectory,
      workerProcesses: String(config.nginxWorkers),
      upstreamAddresses: listenAddresses,
    });
    nginx = new Supervised({
      name: 'nginx',
      command: nginxBinary,
      args: ['-p', runDirectory, '-c', configPath],
      spawnOptions: { detached: true, stdio: ['ignore', 'inherit', 'inherit'] },
      waitUntilReady: (child) => waitForPort(config.port, child),
      readyTimeoutMs: READY_TIMEOUT_MS,
      // SIGQUIT is nginx's graceful stop: it finishes requests in progress.
      stopSignal: 'SIGQUIT',
      stopTimeoutMs: 10_000,
      log,
      onStarted: writeState,
    });
    await nginx.start();
  }
  writeState();
  log(`up on http://localhost:${config.port} (${mode === 'nginx' ? `nginx -> ${config.instanceCount} instances over ${config.upstreamTransport}` : `${config.instanceCount} instances`}, data in ${config.dataDirectory})`);
}

main().catch((error: unknown) => {
  console.error(`[crebito] could not start: ${error instanceof Error ? error.message : String(error)}`);
  if (shutdown === undefined) process.exit(1);
  void shutdown('start failed', 1);
});
