// The entry point of one API instance: read the configuration, open the
// ledger, serve HTTP, and on SIGTERM or SIGINT stop in order (stop accepting,
// finish in-flight requests, close the pool, exit). The launcher starts two of
// these; they can also be run alone with DATABASE_URL set.

import fs from 'node:fs';
import { describeListenTarget, type ListenTarget } from '../shared/listen.js';
import { readInstanceConfig } from './config.js';
import { createLedger } from './ledger.js';
import { createServer } from './server.js';

/** A unix socket left behind by a crashed instance would make listen fail. */
function removeStaleSocket(target: ListenTarget): void {
  if (target.kind !== 'unix') return;
  try {
    if (fs.lstatSync(target.path).isSocket()) fs.unlinkSync(target.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

async function main(): Promise<void> {
  const config = readInstanceConfig(process.env);
  const log = (message: string) => console.log(`[${config.instanceName}] ${message}`);

  const ledger = createLedger({ ...config, applicationName: `crebito-${config.instanceName}`, log });
  const server = createServer({ ledger, instanceName: config.instanceName });

  removeStaleSocket(config.listen);
  await server.listen(config.listen);
  // nginx's workers may run as another user than the instance; they need
  // write permission on the socket to connect. The run directory guards it.
  if (config.listen.kind === 'unix') fs.chmodSync(config.listen.path, 0o666);
  log(`listening on ${describeListenTarget(config.listen)} (pid ${process.pid}, pool of ${config.poolClientsMax})`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: draining ${server.health().inFlight} in-flight request(s)`);
    const { drained, inFlight } = await server.stop(config.shutdownTimeoutMs);
    if (!drained) log(`gave up waiting after ${config.shutdownTimeoutMs} ms with ${inFlight} request(s) in flight`);
    // pool.end() waits for every query; after a timeout one may never return.
    if (drained) await ledger.close();
    removeStaleSocket(config.listen);
    log('stopped');
    process.exit(drained ? 0 : 1);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // Started by the launcher: tell it we serve, and stop if it goes away
  // (even killed with SIGKILL, its end of the IPC channel closes).
  if (process.send !== undefined) {
    process.on('disconnect', () => void stop('launcher gone'));
    process.send({ type: 'ready' });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
