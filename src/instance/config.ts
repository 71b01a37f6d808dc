// Owns an API instance's configuration: the settings it reads (declared in
// shared/settings.ts), parsed and checked against each other at start.

import { parseListenTarget, type ListenTarget } from '../shared/listen.js';
import {
  checkInstanceLimits,
  readSettings,
  settingsReadBy,
  type Environment,
  type ReadBy,
  type Settings,
} from '../shared/settings.js';

export type InstanceConfig = Omit<Settings<ReadBy<'instance'>>, 'listen' | 'databaseUrl'> & {
  listen: ListenTarget;
  databaseUrl: string;
};

export function readInstanceConfig(environment: Environment): InstanceConfig {
  const settings = readSettings(environment, settingsReadBy('instance'));
  if (settings.databaseUrl === undefined) {
    throw new Error('DATABASE_URL is required for an API instance (npm start sets it for you)');
  }
  checkInstanceLimits(settings);
  return { ...settings, databaseUrl: settings.databaseUrl, listen: parseListenTarget(settings.listen) };
}
