// Owns the change stream's settings (docs/events.md): whether the launcher
// runs it, which broker, and the names and bounds the publisher works with.
// Read here rather than in shared/settings.ts because nothing else in the
// stack reads them and the stream is off unless asked for.

import fs from 'node:fs';
import path from 'node:path';
import type { Environment } from '../shared/settings.js';

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
}

function integerOf(environment: Environment, name: string, fallback: number, min: number, max: number): number {
  const raw = environment[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be a whole number between ${min} and ${max}, not ${raw}`);
  return value;
}

export function readEventsConfig(environment: Environment): EventsConfig {
  const switched = environment.CREBITO_EVENTS ?? 'off';
  if (switched !== 'on' && switched !== 'off') throw new Error(`CREBITO_EVENTS must be on or off, not ${switched}`);
  const brokerUrl = environment.CREBITO_EVENTS_URL || undefined;
  if (brokerUrl !== undefined && !/^amqps?:\/\//.test(brokerUrl)) throw new Error('CREBITO_EVENTS_URL must be an amqp:// or amqps:// URL');
  return {
    enabled: switched === 'on',
    brokerUrl,
    // Below 30000: RabbitMQ 3.10 failed to start its Erlang distribution with
    // ports in the ephemeral range (36189 did, 32000 did not).
    brokerPort: integerOf(environment, 'CREBITO_EVENTS_BROKER_PORT', 5682, 1024, 30_000),
    adminPort: integerOf(environment, 'CREBITO_EVENTS_ADMIN_PORT', 9199, 0, 65_535),
    walKeepMb: integerOf(environment, 'CREBITO_EVENTS_WAL_KEEP_MB', 4096, 64, 1_048_576),
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
