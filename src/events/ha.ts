// Owns what the HA profile's Patroni needs for the change stream when
// CREBITO_EVENTS=on. PostgreSQL 15 does not carry a logical slot over a
// promotion: the promoted standby has no slot, and a new one would start
// after whatever the old primary had not yet streamed. Patroni's permanent
// slots (`slots:` in its dynamic configuration) keep a copy of the logical
// slot on every standby and move it forward as the primary's moves; only
// with use_slots on, which also gives each standby a physical slot (the
// measured cost: about 2 s more write gap in a failover, ha/patroni.ts).
// The standbys need hot_standby_feedback so the catalogue rows the slot still
// needs are not vacuumed away under it.

import type { Environment } from '../shared/settings.js';
import { postgresSettingsFor, readEventsConfig, STREAM_NAME } from './config.js';

/** The bootstrap.dcs keys to add (they replace the ones of the same name); none when the stream is off. */
export function haEventsSettings(environment: Environment): Record<string, unknown> {
  const config = readEventsConfig(environment);
  if (!config.enabled) return {};
  const parameters = Object.fromEntries(
    postgresSettingsFor(config).map((setting) => setting.split('=') as [string, string]),
  );
  return {
    postgresql: {
      use_pg_rewind: true,
      use_slots: true,
      parameters: {
        max_wal_senders: 10,
        max_replication_slots: 10,
        wal_keep_size: '512MB',
        hot_standby: 'on',
        hot_standby_feedback: 'on',
        ...parameters,
      },
    },
    slots: { [STREAM_NAME]: { type: 'logical', database: 'crebito', plugin: 'pgoutput' } },
  };
}

/** The publisher reads the slot over a replication connection as the superuser, through HAProxy. */
export function haEventsHba(environment: Environment, subnet: string): string[] {
  return readEventsConfig(environment).enabled ? [`host replication postgres ${subnet} scram-sha-256`] : [];
}
