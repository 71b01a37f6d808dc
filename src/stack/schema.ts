// Owns putting the schema in place (and reading how many connections the
// database allows): the files in sql/, applied in name order
// in one transaction under an advisory lock, so two launchers starting at once
// cannot interleave. Every file is idempotent; applying them to a database
// that already holds data keeps the data.

import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { readRoleFacts, roleRefusal } from '../shared/database-role.js';
import { writeOwnerSettings, type OwnerSettings } from './owner-settings.js';
import { PROJECT_ROOT } from './paths.js';

export const SQL_DIRECTORY = path.join(PROJECT_ROOT, 'sql');

// An arbitrary constant that names "crebito schema setup" among advisory locks.
const SCHEMA_LOCK_KEY = 7_402_024;

export function readSchemaFiles(directory = SQL_DIRECTORY): { name: string; text: string }[] {
  return fs
    .readdirSync(directory)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => ({ name, text: fs.readFileSync(path.join(directory, name), 'utf8') }));
}

/** Applies sql/, then, when given, the owner's settings (owner-settings.ts), in the same transaction. */
export async function applySchema(databaseUrl: string, ownerSettings?: OwnerSettings): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'crebito-schema' });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
    for (const file of readSchemaFiles()) {
      try {
        await client.query(file.text);
      } catch (error) {
        throw new Error(`applying sql/${file.name} failed: ${(error as Error).message}`, { cause: error });
      }
    }
    if (ownerSettings !== undefined) await writeOwnerSettings(client, ownerSettings);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

/**
 * Refuses, before any instance starts, a DATABASE_URL that logs in as a
 * superuser or as the schema's owner (the instances would refuse it too,
 * each on its own, and crash-loop): one line that says what to do.
 */
export async function checkInstanceRole(databaseUrl: string, allowSuperuser: 'on' | 'off'): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'crebito-schema' });
  await client.connect();
  try {
    const refusal = roleRefusal(await readRoleFacts(client), allowSuperuser);
    if (refusal !== undefined) throw new Error(refusal);
  } finally {
    await client.end();
  }
}

/**
 * The connections the database lets ordinary roles open: max_connections less
 * those reserved for superusers (and, from PostgreSQL 16, for
 * pg_use_reserved_connections).
 */
export async function readConnectionLimit(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'crebito-schema' });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('max_connections', 'superuser_reserved_connections', 'reserved_connections')",
    );
    const setting = (name: string) => Number(rows.find((row) => row.name === name)?.setting ?? 0);
    return setting('max_connections') - setting('superuser_reserved_connections') - setting('reserved_connections');
  } finally {
    await client.end();
  }
}
