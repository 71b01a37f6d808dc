// A fresh database per test file, with the schema applied the same way the
// launcher applies it, plus a direct client for reading what was stored.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { embeddedDatabaseUrl } from '../../src/stack/embedded-postgres.js';
import { applySchema } from '../../src/stack/schema.js';

export interface TestDatabase {
  url: string;
  /** Runs SQL directly, bypassing the service: for checking what it stored. */
  query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<Row[]>;
  balance(clientId: number): Promise<number>;
  transactionCount(clientId?: number): Promise<number>;
  close(): Promise<void>;
}

/** Opens assertion access to an existing crebito database (the launcher's, say). */
export function openDatabase(url: string, onClose: () => Promise<void> = async () => undefined): TestDatabase {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  return {
    url,
    async query(text, values) {
      return (await pool.query(text, values)).rows;
    },
    async balance(clientId) {
      const rows = await pool.query('SELECT saldo FROM clientes WHERE id = $1', [clientId]);
      return Number(rows.rows[0].saldo);
    },
    async transactionCount(clientId) {
      const rows = clientId === undefined
        ? await pool.query('SELECT count(*)::int AS n FROM transacoes')
        : await pool.query('SELECT count(*)::int AS n FROM transacoes WHERE cliente_id = $1', [clientId]);
      return rows.rows[0].n as number;
    },
    async close() {
      await pool.end();
      await onClose();
    },
  };
}

/** A new database in the test run's PostgreSQL, with the schema applied; dropped on close. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const maintenanceUrl = inject('maintenanceUrl');
  const name = `crebito_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: maintenanceUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();

  const url = embeddedDatabaseUrl(name, inject('postgresSocketDirectory'), inject('postgresPort'));
  await applySchema(url);
  return openDatabase(url, async () => {
    const dropper = new pg.Client({ connectionString: maintenanceUrl });
    await dropper.connect();
    await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await dropper.end();
  });
}
