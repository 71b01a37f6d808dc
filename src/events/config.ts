// Owns the change stream's settings (docs/events.md): whether the launcher
// runs it, which broker, and the names and bounds the publisher works with.
// Read here rather than in shared/settings.ts because nothing else in the
// stack reads them and the stream is off unless asked for.

import fs from 'node:fs';
import path from 'node:path';
import { readSetting, SETTINGS, type Environment } from '../shared/settings.js';
import type { StreamCpuMode } from './cpu.js';

export const EXCHANGE_NAME = 'crebito';
/** The replication slot and the publication share this name. */
export const STREAM_NAME = 'crebito_eventos';
export const PUBLISHED_TABLE = 'transacoes';

export interface EventsConfig {
  enabled: boolean;
  /** An existing broker (CREBITO_EVENTS_URL); undefined: the launcher runs its own RabbitMQ. */
  brokerUrl: string | undefined;
  /** The local broker's AMQP port; its Erlang ports are derived from it (broker.ts). */
  brokerPort: number;
  /** Where the publisher serves /health and /metrics: 127.0.0.1:port, 0 for any free port. */
  adminPort: number;
  /** PostgreSQL's max_slot_wal_keep_size for the embedded server: what a stalled stream may hold back. */
  walKeepMb: number;
  /** How the stream's processes share the CPU with the ledger (cpu.ts). */
  cpu: StreamCpuMode;
  /** The stream's cgroup's hard cap while it is not far behind, in percent of one core; 0: none (cpu-cap.ts). */
  cpuCapPercent: number;
}

/** The stream's settings, as settings.ts declares and checks them. */
export function readEventsConfig(environment: Environment): EventsConfig {
  const read = <Name extends keyof typeof SETTINGS>(name: Name) => readSetting(SETTINGS[name], environment);
  const url = read('eventsUrl') as string | undefined;
  if (url !== undefined && !/^amqps?:\/\//.test(url))
    throw new Error(`${SETTINGS.eventsUrl.env} must be an amqp:// or amqps:// URL`);
  return {
    enabled: read('events') === 'on',
    brokerUrl: (read('eventsUrl') as string | undefined) || undefined,
    brokerPort: read('eventsBrokerPort') as number,
    adminPort: read('eventsAdminPort') as number,
    walKeepMb: read('eventsWalKeepMb') as number,
    cpu: read('eventsCpu') as StreamCpuMode,
    cpuCapPercent: read('eventsCpuCap') as number,
  };
}

/**
 * The embedded PostgreSQL's extra settings when the stream is on: logical
 * decoding, and the bound on held-back WAL. Also when it is off but the data
 * directory still has the stream's slot: PostgreSQL refuses to start with a
 * logical slot and a lower wal_level, and without the bound the slot would
 * hold WAL for ever (docs/events.md, "Turning it off").
 */
export function postgresSettingsFor(config: EventsConfig, dataDirectory?: string): string[] {
  const slotLeft = dataDirectory !== undefined && fs.existsSync(path.join(dataDirectory, 'pg_replslot', STREAM_NAME));
  if (!config.enabled && !slotLeft) return [];
  return ['wal_level=logical', `max_slot_wal_keep_size=${config.walKeepMb}MB`];
}
