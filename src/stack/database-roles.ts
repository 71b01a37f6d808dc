// Owns the ledger's database roles on a server the launcher runs itself (the
// embedded PostgreSQL, and the tests' one): creating the owner and instance
// roles (sql/roles/create.sql), and handing a database made before them over
// to the owner (sql/roles/hand-over.sql). Both run as the server's
// superuser; with DATABASE_URL an operator does the same by hand
// (docs/security.md, Database roles).

import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { SQL_DIRECTORY } from './schema.js';

/** Owns the schema and applies sql/; declared again in sql/roles/create.sql. */
export const OWNER_ROLE = 'crebito_owner';
/** What the API instances log in as; declared again in sql/roles/create.sql and granted to in sql/07-privileges.sql. */
export const INSTANCE_ROLE = 'crebito_api';

// An arbitrary constant that names "crebito role creation" among advisory
// locks. Held in the maintenance database, which every creator connects to,
// because advisory locks are per database and roles are per cluster.
const ROLES_LOCK_KEY = 7_402_025;

const roleFile = (name: string) => fs.readFileSync(path.join(SQL_DIRECTORY, 'roles', name), 'utf8');

async function withClient(url: string, use: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'crebito-roles' });
  await client.connect();
  try {
    await use(client);
  } finally {
    await client.end();
  }
}

/** Creates both roles unless they exist; safe when many callers on one cluster ask at once. */
export function ensureRoles(superuserMaintenanceUrl: string): Promise<void> {
  return withClient(superuserMaintenanceUrl, async (client) => {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [ROLES_LOCK_KEY]);
    await client.query(roleFile('create.sql'));
    await client.query('COMMIT');
  });
}

/** Makes OWNER_ROLE the owner of a database and of everything in its schema (a no-op once done). */
export function handOverToOwner(superuserDatabaseUrl: string): Promise<void> {
  return withClient(superuserDatabaseUrl, async (client) => {
    await client.query(roleFile('hand-over.sql'));
  });
}

/** The roles, and a database owned by the owner role (a database from before the roles is handed over). */
export async function ensureLedgerDatabase(options: {
  superuserMaintenanceUrl: string;
  superuserDatabaseUrl: string;
  databaseName: string;
}): Promise<void> {
  await ensureRoles(options.superuserMaintenanceUrl);
  await withClient(options.superuserMaintenanceUrl, async (client) => {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.databaseName]);
    if (existing.rowCount === 0) await client.query(`CREATE DATABASE ${options.databaseName} OWNER ${OWNER_ROLE}`);
  });
  await handOverToOwner(options.superuserDatabaseUrl);
}
