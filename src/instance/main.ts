// The entry point of one API instance: read the configuration, open the
// ledger, serve HTTP (and, when CREBITO_ADMIN_LISTEN is set, /metrics on an
// admin address), and on SIGTERM or SIGINT stop in order (stop accepting,
// finish in-flight requests, close every connection, close the pool, exit).
// The launcher starts two of these; they can also be run alone with
// DATABASE_URL set.

import fs from 'node:fs';
import { describeListenTarget, parseListenTarget, type ListenTarget } from '../shared/listen.js';
import { createLog, flushAndExit, type Log } from '../shared/log.js';
import { readInstanceConfig, type InstanceConfig } from './config.js';
import { createLedger, type Ledger } from './ledger/ledger.js';
import { createMetrics } from './metrics.js';
import { API_OPERATIONS } from './operations/index.js';
import { createServer, type Server } from './http/server.js';
import { watchStalls, type StallWatch } from './stalls.js';
import { foldRepeats } from '../shared/repeats.js';
import { formerNamesSet } from '../shared/settings.js';
import { backupHealth, backupStatusReader, type BackupHealth } from '../shared/backup-status.js';

/** A unix socket left behind by a crashed instance would make listen fail. */
function removeStaleSocket(target: ListenTarget): void {
  if (target.kind !== 'unix') return;
  try {
    if (fs.lstatSync(target.path).isSocket()) fs.unlinkSync(target.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function build(config: InstanceConfig, log: Log): { ledger: Ledger; server: Server; stalls: StallWatch } {
  let server: Server | undefined;
  // One slow request per route is logged as it comes, the others of each
  // interval as one count (the metrics keep every one).
  const slowRequests = foldRepeats((route, repeats, intervalMs) =>
    log.warn({ route, repeats, intervalS: intervalMs / 1000 }, 'more slow requests on this route in the interval'),
  );
  const backups = config.backupStatusFile !== '';
  const metrics = createMetrics({ enabled: config.metrics === 'on', health: () => server!.health(), backups });
  const ledger = createLedger({
    ...config,
    applicationName: `crebito-${config.instanceName}`,
    log,
    metrics,
    operations: API_OPERATIONS,
  });
  server = createServer({
    ledger,
    ...backupsOf(config),
    instanceName: config.instanceName,
    metrics,
    onAnswered(exchange, statusLine, repliedMs) {
      const { route } = exchange;
      const durationMs = repliedMs - exchange.startedMs;
      metrics.answered(route, statusLine, durationMs / 1000);
      metrics.timing.answered(route, exchange, repliedMs);
      if (durationMs <= config.slowRequestMs) return;
      const status = Number(statusLine.slice(0, 3));
      slowRequests.note(route, () =>
        log.warn({ route, status, durationMs: Math.round(durationMs * 1000) / 1000 }, 'slow request'),
      );
    },
  });
  // Pauses are logged past the same bound as slow requests: one knob says what is slow.
  const stalls = watchStalls({ log, logAboveMs: config.slowRequestMs, recorder: metrics });
  return { ledger, server, stalls };
}

/** The backup status the launcher writes, when it keeps backups of the embedded database. */
function backupsOf(config: InstanceConfig): { backups?: () => BackupHealth } {
  if (config.backupStatusFile === '') return {};
  const read = backupStatusReader(config.backupStatusFile);
  return { backups: () => backupHealth(read(), Date.now()) };
}

/** Listens; resolves with the admin address actually bound (host:port), if any. */
async function listen(config: InstanceConfig, server: Server, log: Log): Promise<string | undefined> {
  removeStaleSocket(config.listen);
  await server.listen(config.listen);
  // The socket keeps the mode our umask gave it: widening it here (nginx's
  // workers may be another user) would open the API past nginx to every
  // local user until the launcher restricts it. The launcher hands it to
  // nginx's user alone (src/stack/run-access.ts); whoever runs an instance
  // without the launcher decides with their umask.
  const requested = config.adminListen === '' ? undefined : parseListenTarget(config.adminListen);
  if (requested !== undefined && requested.kind !== 'tcp')
    throw new Error(
      `CREBITO_ADMIN_LISTEN must be host:port (Prometheus cannot scrape a unix socket), got ${config.adminListen}`,
    );
  const admin = requested === undefined ? undefined : `${requested.host}:${await server.listenAdmin(requested)}`;
  log.info(
    { listen: describeListenTarget(config.listen), admin: admin ?? null, poolClientsMax: config.poolClientsMax },
    'listening',
  );
  return admin;
}

async function main(): Promise<void> {
  const config = readInstanceConfig(process.env);
  const log = createLog({ program: 'instance', name: config.instanceName, level: config.logLevel });
  for (const warning of formerNamesSet(process.env)) log.warn(warning);
  const { ledger, server, stalls } = build(config, log);
  // Warm before listening: a restarted instance gets nginx's requests as
  // soon as it listens. A database that does not answer yet is no reason to
  // wait: the instance then listens and answers 503 until it does.
  const warmStartMs = performance.now();
  const warm = await ledger.filled();
  log.info(
    { warm, warmUpMs: Math.round(performance.now() - warmStartMs), connections: ledger.health().pool.warmCount },
    warm ? 'pool open and warm' : 'pool not filled: the database is not answering yet',
  );
  const admin = await listen(config, server, log);

  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ reason, inFlight: server.health().inFlight }, 'stopping: draining in-flight requests');
    const { drained, inFlight } = await server.stop(config.shutdownTimeoutMs);
    if (!drained)
      log.error({ shutdownTimeoutMs: config.shutdownTimeoutMs, inFlight }, 'gave up waiting for in-flight requests');
    // pool.end() waits for every query; after a timeout one may never return.
    if (drained) await ledger.close();
    stalls.stop();
    removeStaleSocket(config.listen);
    log.info({ drained }, 'stopped');
    await flushAndExit(log, drained ? 0 : 1);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // Started by the launcher: tell it we serve, and stop if it goes away
  // (even killed with SIGKILL, its end of the IPC channel closes).
  if (process.send !== undefined) {
    process.on('disconnect', () => void stop('launcher gone'));
    process.send({ type: 'ready', admin: admin ?? null });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
