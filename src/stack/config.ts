// Owns the launcher's configuration: the settings `npm start` reads (declared
// in shared/settings.ts), including the instance settings it checks here and
// passes on, and the cross-checks that need the whole stack in view.

import path from 'node:path';
import {
  checkInstanceLimits,
  readSettings,
  settingsReadBy,
  PASSED_TO_INSTANCES,
  SETTINGS,
  type Environment,
  type PassedToInstances,
  type ReadBy,
  type Settings,
} from '../shared/settings.js';
import { API_KEYS_POLL_CONNECTIONS, BREAKER_PROBE_CONNECTIONS } from '../shared/limits.js';
import { EMBEDDED_MAX_CONNECTIONS } from './embedded-postgres.js';
import { PROJECT_ROOT } from './paths.js';
import { checkTlsSettings } from './tls.js';

export type DatabaseMode = LauncherConfig['databaseMode'];

export type LauncherConfig = Omit<Settings<ReadBy<'stack'>>, 'dataDirectory' | 'instanceNodeArguments'> & {
  dataDirectory: string;
  instanceNodeArguments: string[];
  /** What every instance is started with. */
  instance: Settings<PassedToInstances>;
};

// Connections the stack keeps free for the launcher's schema step and for
// an operator's psql, beyond the instances' pools.
export const SPARE_DATABASE_CONNECTIONS = 5;

export function readLauncherConfig(environment: Environment): LauncherConfig {
  const settings = readSettings(environment, settingsReadBy('stack'));
  // nginx waits for an instance as long as its worst request time and a
  // margin (nginx.ts, upstreamTimeoutMs), so no deadline can outlast nginx.
  checkInstanceLimits(settings);
  checkTlsSettings(settings);
  if (settings.ha === 'on' && settings.databaseUrl !== undefined)
    throw new Error(`${SETTINGS.ha.env}=on runs its own database nodes; unset DATABASE_URL`);
  if (settings.databaseUrl === undefined)
    checkConnectionBudget(settings.instanceCount, connectionsPerInstance(settings), EMBEDDED_MAX_CONNECTIONS);
  const instance = Object.fromEntries(
    PASSED_TO_INSTANCES.map((name) => [name, settings[name]]),
  ) as Settings<PassedToInstances>;
  return {
    ...settings,
    dataDirectory: path.resolve(settings.dataDirectory ?? path.join(PROJECT_ROOT, '.data')),
    instanceNodeArguments: settings.instanceNodeArguments.split(' ').filter((argument) => argument !== ''),
    instance,
  };
}

/** An instance's connections at most: its pool, the breaker's probe, and with CREBITO_AUTH=keys the API keys' poll's own (src/instance/ledger/api-keys.ts). */
export function connectionsPerInstance(settings: { poolClientsMax: number; auth: 'off' | 'keys' }): number {
  return (
    settings.poolClientsMax + BREAKER_PROBE_CONNECTIONS + (settings.auth === 'keys' ? API_KEYS_POLL_CONNECTIONS : 0)
  );
}

/** Throws when every instance's pool at its largest (and the keys' poll) would not fit the database's connections. */
export function checkConnectionBudget(
  instanceCount: number,
  connectionsEach: number,
  availableConnections: number,
): void {
  const needed = instanceCount * connectionsEach + SPARE_DATABASE_CONNECTIONS;
  if (needed > availableConnections) {
    throw new Error(
      `${SETTINGS.instanceCount.env} (${instanceCount}) × ${connectionsEach} ` +
        `(${SETTINGS.poolClientsMax.env}, 1 for the breaker's probe, and 1 with ${SETTINGS.auth.env}=keys) ` +
        `+ ${SPARE_DATABASE_CONNECTIONS} spare need ${needed} database connections; ` +
        `the database allows ${availableConnections}`,
    );
  }
}
