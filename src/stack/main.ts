// The entry point of `npm start`: brings up the whole stack on one machine and
// takes it down again. In order: take the data directory's lock and stop what
// a killed launcher left behind; the database (database.ts: embedded, external
// or HA, chosen once) and the schema; the API instances; nginx in front on
// PORT (without nginx on the machine, the instances share PORT themselves);
// then <data>/run/state.json, which names every process for the benchmark and
// the ledger checker. SIGINT/SIGTERM stop everything in the reverse order:
// nginx finishes what it holds, the instances drain, the database stops last.
// Every child is supervised: restarted when it dies on its own, and the whole
// stack stopped, exit 1, when one crash-loops (supervisor.ts).

import fs from 'node:fs';
import path from 'node:path';
import { createLog, flushAndExit, type Log } from '../shared/log.js';
import { waitFor } from '../shared/wait.js';
import { superviseInstance, superviseNginx, type InstanceReady, type SupervisionHooks } from './children.js';
import { checkConnectionBudget, connectionsPerInstance, readLauncherConfig, type LauncherConfig } from './config.js';
import { getFromListenAddress } from './http.js';
import { findPrometheus, startPrometheus, writePrometheusTargets, type PrometheusPlan } from './prometheus.js';
import { planDatabase, withoutPassword, type StackDatabase } from './database.js';
import { stopLeftovers } from './leftovers.js';
import { PROBE_DEADLINE_MS, watchLiveness } from './liveness.js';
import { Rotation } from './rotation.js';
import { prepareRunDirectory, restrictInstanceSocket, type RunAccess } from './run-access.js';
import { acquireLauncherLock, type LauncherLock } from './lock.js';
import { findNginx, outOfRotationMarker } from './nginx.js';
import { applySchema, checkInstanceRole, readConnectionLimit } from './schema.js';
import { stateFilePath, writeStackState, type RecordedProcess, type StackState } from './state.js';
import { Supervised } from './supervisor.js';
import { prepareTls, type TlsPlan } from './tls.js';
import { formerNamesSet } from '../shared/settings.js';
import { EventsStack } from '../events/launch.js';

// The stack is up once every instance says its database answers (/ready).
const INSTANCES_READY_TIMEOUT_MS = 30_000;
const READY_POLL_INTERVAL_MS = 100;
const READY_PROBE_TIMEOUT_MS = 2000;

/** Everything one launcher runs, decided before anything starts. */
interface Stack {
  config: LauncherConfig;
  log: Log;
  runDirectory: string;
  lock: LauncherLock;
  /** Embedded, external (DATABASE_URL) or HA (CREBITO_HA=on): database.ts. */
  database: StackDatabase;
  /** Where each instance listens, in order. */
  listenAddresses: string[];
  instances: Supervised[];
  /** Where each instance serves /metrics, as it said when it last started. */
  admins: (string | null)[];
  nginx: Supervised | undefined;
  /** HTTPS at nginx, when on. */
  tls: TlsPlan | undefined;
  prometheus: { plan: PrometheusPlan; supervised: Supervised } | undefined;
  /** CREBITO_EVENTS=on: the change stream's broker and publisher (docs/events.md). */
  events: EventsStack | undefined;
  /** Which instances nginx sends new requests to (the liveness watches take them out and put them back). */
  rotation: Rotation;
  /** One liveness watch per instance, once they have started. */
  liveness: { stop(): void }[];
  stopping: boolean;
}

// Set once the stack is planned, so a failed start can stop whatever did
// start, in order, and exit non-zero.
let stopStack: ((reason: string, exitCode: number) => Promise<void>) | undefined;

/** Where each instance listens: its own unix socket behind nginx, or all on PORT without nginx. */
function listenAddressesFor(config: LauncherConfig, runDirectory: string, nginxBinary: string | undefined): string[] {
  return Array.from({ length: config.instanceCount }, (_, index) =>
    nginxBinary === undefined ? String(config.port) : `unix:${path.join(runDirectory, `api-${index + 1}.sock`)}`,
  );
}

/** Decides what runs (nothing starts yet): the database, where each instance listens, nginx or not, Prometheus or not. */
function planStack(
  config: LauncherConfig,
  runDirectory: string,
  lock: LauncherLock,
  access: RunAccess,
  log: Log,
): Stack {
  const hooks: SupervisionHooks = {
    log,
    onStarted: () => writeState(stack),
    onGaveUp: (reason) => void stopStack?.(reason, 1),
  };
  const nginxBinary = config.nginx === 'off' ? undefined : findNginx();
  const listenAddresses = listenAddressesFor(config, runDirectory, nginxBinary);
  const tls = prepareTls(config, config.dataDirectory, log);
  if (tls !== undefined && nginxBinary === undefined)
    throw new Error('TLS is served by nginx, and nginx is off or not installed (Debian/Ubuntu: apt-get install nginx)');
  const onReady = (index: number) => (ready: InstanceReady) => {
    restrictInstanceSocket(listenAddresses[index]!, access);
    stack.admins[index] = ready.admin;
    if (stack.prometheus !== undefined) writePrometheusTargets(stack.prometheus.plan, adminTargets(stack));
  };
  const instances = listenAddresses.map((listen, index) =>
    superviseInstance(config, index, listen, () => databaseUrlOf(stack), onReady(index), hooks),
  );
  const stack: Stack = {
    config,
    log,
    runDirectory,
    lock,
    database: planDatabase(config, runDirectory, hooks),
    listenAddresses,
    instances,
    admins: listenAddresses.map(() => null),
    nginx:
      nginxBinary === undefined
        ? undefined
        : superviseNginx(
            config,
            { runDirectory, binary: nginxBinary, listenAddresses, workerUser: access.nginxWorker, tls },
            hooks,
          ),
    tls,
    prometheus: planPrometheus(config, hooks),
    events: EventsStack.plan(config.dataDirectory, () => replicationUrlOf(stack), hooks),
    rotation: new Rotation({
      names: instances.map((instance) => instance.name),
      markerOf: nginxBinary === undefined ? undefined : (index) => outOfRotationMarker(runDirectory, index),
      onChanged: () => writeState(stack),
      log,
    }),
    liveness: [],
    stopping: false,
  };
  return stack;
}

function planPrometheus(config: LauncherConfig, hooks: SupervisionHooks): Stack['prometheus'] {
  if (config.prometheus === 'off') return undefined;
  const binary = findPrometheus();
  if (binary === undefined)
    throw new Error(
      'CREBITO_PROMETHEUS=on, but prometheus is not installed (Debian/Ubuntu: apt-get install prometheus)',
    );
  const plan = {
    binary,
    directory: path.join(config.dataDirectory, 'prometheus'),
    port: config.prometheusPort,
    scrapeIntervalMs: config.prometheusScrapeIntervalMs,
  };
  return {
    plan,
    supervised: new Supervised({ name: 'prometheus', start: () => startPrometheus(plan, hooks.log), ...hooks }),
  };
}

function adminTargets(stack: Stack): { name: string; admin: string }[] {
  const instances = stack.instances.flatMap((instance, index) =>
    stack.admins[index] === null ? [] : [{ name: instance.name, admin: stack.admins[index]! }],
  );
  return [...instances, ...(stack.events?.adminTargets() ?? [])];
}

/** The change stream reads the replication slot as a superuser (or CREBITO_EVENTS_DATABASE_URL's role, which needs REPLICATION). */
function replicationUrlOf(stack: Stack): string {
  return process.env.CREBITO_EVENTS_DATABASE_URL || (stack.database.superuserUrl() ?? ownerUrlOf(stack));
}

/** The database to give an instance at its (re)start: as the embedded server last started, or as configured. */
function databaseUrlOf(stack: Stack): string {
  const url = stack.database.instanceUrl();
  if (url === undefined) throw new Error('no database URL before the database has started');
  return url;
}

/** The database as the schema's owner, which applies sql/. */
function ownerUrlOf(stack: Stack): string {
  const url = stack.database.ownerUrl();
  if (url === undefined) throw new Error('no database URL before the database has started');
  return url;
}

const recorded = (supervised: Supervised | undefined): RecordedProcess =>
  supervised?.running?.identity ?? { pid: undefined };

function writeState(stack: Stack): void {
  const { config } = stack;
  const state: StackState = {
    launcherPid: process.pid,
    port: config.port,
    mode: stack.nginx === undefined ? 'direct' : 'nginx',
    poolClientsMax: config.instance.poolClientsMax,
    databaseUrl: stack.database.toolsUrl(),
    instanceDatabaseUrl: withoutPassword(stack.database.instanceUrl() ?? ''),
    nginx: stack.nginx === undefined ? null : recorded(stack.nginx),
    instances: stack.instances.map((instance, index) => ({
      name: instance.name,
      ...recorded(instance),
      listen: stack.listenAddresses[index]!,
      admin: stack.admins[index]!,
      restarts: instance.restarts,
      inRotation: stack.rotation.inRotation(index),
    })),
    prometheus:
      stack.prometheus === undefined
        ? null
        : { ...recorded(stack.prometheus.supervised), url: `http://127.0.0.1:${stack.prometheus.plan.port}` },
    ...stack.database.state(),
    ...(stack.events === undefined ? {} : { events: stack.events.state() }),
  };
  writeStackState(stack.runDirectory, state);
}

/** The database and its schema; every instance's pool, at its largest, must fit its connections. */
async function startDatabase(stack: Stack): Promise<void> {
  await stack.database.start();
  await applySchema(ownerUrlOf(stack), stack.config);
  await checkInstanceRole(databaseUrlOf(stack), stack.config.allowSuperuser);
  checkConnectionBudget(
    stack.config.instanceCount,
    connectionsPerInstance(stack.config.instance),
    await readConnectionLimit(databaseUrlOf(stack)),
  );
}

function sayHowToReach(stack: Stack): void {
  const { config } = stack;
  if (stack.nginx === undefined) {
    stack.log.warn(
      config.nginx === 'off'
        ? `CREBITO_NGINX=off: the ${config.instanceCount} instances share port ${config.port} directly`
        : `nginx is not installed (Debian/Ubuntu: apt-get install nginx); the ${config.instanceCount} instances share port ${config.port} directly`,
    );
  }
}

/** Up means every instance says its database answers: /ready on its admin address. */
async function waitUntilInstancesReady(stack: Stack): Promise<void> {
  const allReady = async () => {
    const answers = await Promise.all(
      stack.admins.map((admin) =>
        admin === null ? undefined : getFromListenAddress(admin, '/ready', READY_PROBE_TIMEOUT_MS),
      ),
    );
    return answers.every((answer) => answer?.status === 200);
  };
  if (
    (await waitFor(allReady, { timeoutMs: INSTANCES_READY_TIMEOUT_MS, intervalMs: READY_POLL_INTERVAL_MS })) ===
    undefined
  ) {
    throw new Error(`the instances were not all ready (GET /ready) within ${INSTANCES_READY_TIMEOUT_MS} ms`);
  }
}

function sayUp(stack: Stack): void {
  const { config } = stack;
  const shape =
    stack.nginx === undefined
      ? `${config.instanceCount} instances`
      : `nginx -> ${config.instanceCount} instances over unix sockets`;
  const metrics = Object.fromEntries(
    stack.instances.map((instance, index) => [instance.name, `http://${stack.admins[index]}/metrics`]),
  );
  const prometheus = stack.prometheus === undefined ? null : `http://127.0.0.1:${stack.prometheus.plan.port}`;
  const https = stack.tls === undefined ? null : `https://localhost:${stack.tls.port}`;
  const also = https === null ? '' : ` and ${https} (plain HTTP: ${stack.tls!.plainHttp})`;
  stack.log.info(
    { url: `http://localhost:${config.port}`, https, metrics, prometheus, dataDirectory: config.dataDirectory },
    `up on http://localhost:${config.port}${also} (${shape}, data in ${config.dataDirectory})`,
  );
}

/** The reverse of the start: nginx finishes what it holds, the instances drain, the database stops last. */
async function stop(stack: Stack, reason: string, exitCode: number): Promise<void> {
  if (stack.stopping) return;
  stack.stopping = true;
  stack.log.info({ reason }, `${reason}: stopping`);
  for (const watch of stack.liveness) watch.stop();
  await stack.nginx?.stop();
  await stack.prometheus?.supervised.stop();
  await Promise.all(stack.instances.map((instance) => instance.stop()));
  await stack.events?.stop();
  await stack.database.stop();
  fs.rmSync(stateFilePath(stack.runDirectory), { force: true });
  stack.lock.release();
  stack.log.info('stopped');
  await flushAndExit(stack.log, exitCode);
}

async function main(): Promise<void> {
  const config = readLauncherConfig(process.env);
  const log = createLog({ program: 'stack', name: 'crebito', level: config.logLevel });
  for (const warning of formerNamesSet(process.env)) log.warn(warning);
  const runDirectory = path.join(config.dataDirectory, 'run');
  const access = prepareRunDirectory(runDirectory, log);
  const lock = await acquireLauncherLock(config.dataDirectory, runDirectory);
  await stopLeftovers(runDirectory, log);

  const stack = planStack(config, runDirectory, lock, access, log);
  // Set before anything starts, so a Ctrl-C during start-up still cleans up.
  stopStack = (reason, exitCode) => stop(stack, reason, exitCode);
  process.on('SIGINT', () => void stopStack?.('SIGINT', 0));
  process.on('SIGTERM', () => void stopStack?.('SIGTERM', 0));

  // Beside the database; its failure is reported when awaited, not as an unhandled rejection.
  const brokerStarting = stack.events?.startBroker();
  brokerStarting?.catch(() => undefined);
  await startDatabase(stack);
  await brokerStarting;
  await stack.events?.startPublisher();
  sayHowToReach(stack);
  await Promise.all(stack.instances.map((instance) => instance.start()));
  stack.liveness = stack.instances.map((instance, index) =>
    watchLiveness({
      instance,
      admin: () => stack.admins[index]!,
      timeoutMs: config.livenessTimeoutMs,
      onMissed: () => stack.rotation.takeOut(index, `did not answer /health within ${PROBE_DEADLINE_MS} ms`),
      onAnswered: () => stack.rotation.putBack(index),
      log,
    }),
  );
  // The public port opens once the first backup is done (database.ts), not while it competes with requests.
  await stack.database.firstBackup();
  await stack.nginx?.start();
  await stack.prometheus?.supervised.start();
  writeState(stack);
  await waitUntilInstancesReady(stack);
  sayUp(stack);
}

main().catch((error: unknown) => {
  console.error(`[crebito] could not start: ${error instanceof Error ? error.message : String(error)}`);
  if (stopStack === undefined) process.exit(1);
  void stopStack('start failed', 1);
});
