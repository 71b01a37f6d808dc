// A fresh database per test file, with the schema applied the same way the
// launcher applies it (by the owner role), plus a direct client for reading
// what was stored. Instances get the restricted role's URL, as the launcher
// gives them; tests that act on the database themselves (holding a row
// lock, adding a constraint, reading pg_stat_activity) use the superuser's.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { ensureRoles, INSTANCE_ROLE, OWNER_ROLE } from '../../src/stack/database-roles.js';
import { embeddedDatabaseUrl } from '../../src/stack/embedded-postgres.js';
import { applySchema } from '../../src/stack/schema.js';

export interface TestDatabase {
  /** As the instances log in: the role that can only call the ledger's functions. */
  url: string;
  /** As the schema's owner: for applying sql/. */
  ownerUrl: string;
  /** As the superuser: for acting on the database beside the service, and for query(). */
  adminUrl: string;
  /** Runs SQL directly, bypassing the service: for checking what it stored. */
  query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<Row[]>;
  balance(clientId: number): Promise<number>;
  transactionCount(clientId?: number): Promise<number>;
  close(): Promise<void>;
}

/** Opens assertion access to an existing crebito database (the launcher's, say: its state.json's URL serves as both). */
export function openDatabase(
  urls: string | { url: string; ownerUrl: string; adminUrl: string },
  onClose: () => Promise<void> = async () => undefined,
): TestDatabase {
  const { url, ownerUrl, adminUrl } = typeof urls === 'string' ? { url: urls, ownerUrl: urls, adminUrl: urls } : urls;
  const pool = new pg.Pool({ connectionString: adminUrl, max: 4 });
  // An idle connection the server ends (the database dropped WITH (FORCE) at close, a restart under test) is
  // reported on the pool; without a listener that is an uncaught exception in whichever test runs then. A query
  // that meets such a connection still rejects on its own, so nothing an assertion reads is hidden.
  pool.on('error', () => undefined);
  return {
    url,
    ownerUrl,
    adminUrl,
    async query(text, values) {
      return (await pool.query(text, values)).rows;
    },
    async balance(clientId) {
      const rows = await pool.query('SELECT saldo FROM clientes WHERE id = $1', [clientId]);
      return Number(rows.rows[0].saldo);
    },
    async transactionCount(clientId) {
      const rows =
        clientId === undefined
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
  // Roles are cluster-wide and every test file asks for them: ensureRoles
  // takes its turn under a lock.
  await ensureRoles(maintenanceUrl);
  const admin = new pg.Client({ connectionString: maintenanceUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} OWNER ${OWNER_ROLE}`);
  await admin.end();

  const urlAs = (user?: string) =>
    embeddedDatabaseUrl(name, inject('postgresSocketDirectory'), inject('postgresPort'), user);
  await applySchema(urlAs(OWNER_ROLE));
  return openDatabase({ url: urlAs(INSTANCE_ROLE), ownerUrl: urlAs(OWNER_ROLE), adminUrl: urlAs() }, async () => {
    const dropper = new pg.Client({ connectionString: maintenanceUrl });
    await dropper.connect();
    await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await dropper.end();
  });
}
