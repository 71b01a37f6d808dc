// Owns how the launcher starts each kind of child, under its supervisor: the
// embedded PostgreSQL, an API instance, nginx. For each: the command, what
// "ready" means, and how it stops. The order they start and stop in is
// main.ts's business.

import { type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { StackLog } from '../shared/log.js';
import { environmentFor } from '../shared/settings.js';
import { waitForOrThrow } from '../shared/wait.js';
import { CHILD_READY_TIMEOUT_MS, CHILD_STOP_TIMEOUT_MS, hasExited, startChild } from './child.js';
import type { LauncherConfig } from './config.js';
import { archivingOptions, backupStatusFileFor, type EmbeddedBackup } from './backup/launcher.js';
import { startEmbeddedPostgres, type EmbeddedPostgres, type EmbeddedPostgresOptions } from './embedded-postgres.js';
import { http2StyleOf, writeNginxConfig, type Http2Style, type NginxValues } from './nginx.js';
import { foldNginxErrorLog } from './nginx-error-log.js';
import { INSTANCE_ENTRY } from './paths.js';
import { holdsListeningPort, processGroupMembers } from './processes.js';
import { Supervised } from './supervisor.js';
import type { TlsPlan } from './tls.js';
import { postgresSettingsFor, readEventsConfig } from '../events/config.js';

// An instance's own drain deadline, and a margin for closing its pool.
const INSTANCE_STOP_MARGIN_MS = 2000;
const PORT_POLL_INTERVAL_MS = 50;

/** What every supervised child reports to the launcher. */
export interface SupervisionHooks {
  log: StackLog;
  /** After every (re)start: record the new process. */
  onStarted: () => void;
  /** A crash loop: stop the stack. */
  onGaveUp: (reason: string) => void;
}

/** Where the launcher keeps the embedded server: its data, and its socket when that path is short enough. */
export function embeddedPostgresLocation(config: LauncherConfig, runDirectory: string): Pick<EmbeddedPostgresOptions, 'dataDirectory' | 'socketDirectory' | 'port'> {
  return {
    dataDirectory: path.join(config.dataDirectory, 'postgres'),
    socketDirectory: path.join(runDirectory, 'postgres'),
    port: config.embeddedPostgresPort,
  };
}

/**
 * The embedded PostgreSQL, the one part every request needs. Restarted like
 * any child; its socket directory is the same on every start, so the
 * instances' pools reconnect to the new server by themselves.
 */
export function superviseDatabase(config: LauncherConfig, runDirectory: string, hooks: SupervisionHooks, backup?: EmbeddedBackup): Supervised<EmbeddedPostgres> {
  const location = embeddedPostgresLocation(config, runDirectory);
  return new Supervised({
    name: 'PostgreSQL',
    start: () => {
      const archiving = archivingOptions(backup);
      const events = postgresSettingsFor(readEventsConfig(process.env), location.dataDirectory);
      return startEmbeddedPostgres({
        ...location, mode: config.databaseMode, log: hooks.log,
        extraSettings: [...events, ...(archiving.extraSettings ?? [])], extraEnvironment: archiving.extraEnvironment,
      });
    },
    ...hooks,
  });
}

/** What an instance says over IPC once it serves: where its admin listener (/metrics) ended up. */
export interface InstanceReady {
  type: 'ready';
  admin: string | null;
}

function waitForReady(child: ChildProcess): Promise<InstanceReady> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      if ((message as { type?: unknown }).type === 'ready') {
        child.off('message', onMessage);
        resolve(message as InstanceReady);
      }
    };
    child.on('message', onMessage);
  });
}

/** Where instance number index asks to serve /metrics: the configured base port + index, or any free port when the base is 0. */
export function adminListenFor(config: LauncherConfig, index: number): string {
  return `127.0.0.1:${config.adminBasePort === 0 ? 0 : config.adminBasePort + index}`;
}

/**
 * API instance number index (api-1, api-2, ...), listening at listen; its
 * environment is computed at each start, and onReady hears where its admin
 * listener is.
 */
export function superviseInstance(config: LauncherConfig, index: number, listen: string, databaseUrl: () => string, onReady: (ready: InstanceReady) => void, hooks: SupervisionHooks): Supervised {
  const name = `api-${index + 1}`;
  return new Supervised({
    name,
    start: () => startChild({
      name,
      command: process.execPath,
      args: [...config.instanceNodeArguments, INSTANCE_ENTRY],
      spawnOptions: {
        // Its own process group, so a terminal Ctrl-C reaches only the launcher,
        // which then stops everything in order. The IPC channel lets the
        // instance notice when the launcher is gone, even after a SIGKILL.
        detached: true,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, ...environmentFor({ ...config.instance, databaseUrl: databaseUrl(), instanceName: name, listen, adminListen: adminListenFor(config, index), backupStatusFile: backupStatusFileFor(config) }) },
      },
      waitUntilReady: async (child) => onReady(await waitForReady(child)),
      readyTimeoutMs: CHILD_READY_TIMEOUT_MS,
      stopSignal: 'SIGTERM',
      stopTimeoutMs: config.instance.shutdownTimeoutMs + INSTANCE_STOP_MARGIN_MS,
      forceSignal: 'SIGKILL',
      log: hooks.log,
    }),
    ...hooks,
  });
}

/** Where nginx runs from, in front of which instances, and as whom. */
export interface NginxPlan {
  runDirectory: string;
  binary: string;
  listenAddresses: string[];
  workerUser: { user: string; group: string } | undefined;
  /** HTTPS beside the plain port (tls.ts); undefined: plain HTTP only. */
  tls: TlsPlan | undefined;
}

/**
 * nginx's workers outlive a master killed with SIGKILL, and keep the public
 * port: every new nginx then fails to bind it, and the orphans answer 502
 * forever. They are in the master's process group (spawned detached, its own
 * group) and in no other process's: a group id is not handed out again while
 * any member lives, so this stops exactly what that nginx left behind.
 */
function stopOrphanedWorkers(master: number, log: StackLog): void {
  const orphans = processGroupMembers(master);
  if (orphans.length === 0) return;
  log.warn(`nginx's master (pid ${master}) is gone; stopping the ${orphans.length} worker(s) it left holding the port (pids ${orphans.join(', ')})`);
  try {
    process.kill(-master, 'SIGKILL');
  } catch (error) {
    // They exited meanwhile: nothing left to stop.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** What the launcher renders nginx's configuration with, from its settings and plan (a unit test renders the same). */
export function launcherNginxValues(config: LauncherConfig, plan: Omit<NginxPlan, 'binary'>,
  http2: Http2Style): NginxValues {
  return {
    port: config.port,
    runDirectory: plan.runDirectory,
    workerProcesses: String(config.nginxWorkers),
    upstreamAddresses: plan.listenAddresses,
    rateLimitPerS: config.rateLimitPerS,
    rateLimitBy: config.instance.auth === 'keys' ? 'key' : 'address',
    requestTimeoutMs: config.instance.requestTimeoutMs,
    upstreamNames: 'fixed',
    workerUser: plan.workerUser,
    tls: plan.tls === undefined ? undefined : { ...plan.tls, http2 },
  };
}

/** nginx on the public port, in front of the instances; its configuration is written and checked at each start. */
export function superviseNginx(config: LauncherConfig, plan: NginxPlan, hooks: SupervisionHooks): Supervised {
  const errorLog = foldNginxErrorLog(hooks.log);
  return new Supervised({
    name: 'nginx',
    start: async () => {
      const http2 = plan.tls === undefined ? 'directive' : http2StyleOf(plan.binary);
      const configPath = writeNginxConfig(plan.binary, launcherNginxValues(config, plan, http2));
      const nginx = await startChild({
        name: 'nginx',
        command: plan.binary,
        args: ['-p', plan.runDirectory, '-c', configPath],
        // Its error log (stderr) through the launcher, which folds repeats (nginx-error-log.ts).
        spawnOptions: { detached: true, stdio: ['ignore', 'inherit', 'pipe'] },
        onStderr: errorLog,
        // Ready once this nginx holds the port: something else answering
        // there (an orphan of the last one) is not this nginx serving.
        waitUntilReady: (child) => waitForOrThrow(`nginx (pid ${child.pid}) listening on port ${config.port}`, () => holdsListeningPort(child.pid!, config.port), {
          timeoutMs: CHILD_READY_TIMEOUT_MS,
          intervalMs: PORT_POLL_INTERVAL_MS,
          abandonWhen: () => hasExited(child),
        }),
        readyTimeoutMs: CHILD_READY_TIMEOUT_MS,
        // SIGQUIT is nginx's graceful stop: it finishes requests in progress.
        stopSignal: 'SIGQUIT',
        stopTimeoutMs: CHILD_STOP_TIMEOUT_MS,
        forceSignal: 'SIGKILL',
        log: hooks.log,
      });
      void nginx.exited.then(() => stopOrphanedWorkers(nginx.identity.pid, hooks.log));
      return nginx;
    },
    ...hooks,
  });
}
