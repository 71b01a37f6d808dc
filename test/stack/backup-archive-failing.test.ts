// Archiving that fails must be loud and must not stop the ledger: with the
// repository's archive made unwritable under a running stack, writes keep
// being acknowledged while the launcher logs the failure, the admin /ready
// stays 200 but names it in `degradado`, and /metrics says so. A new
// ledger's first full backup that fails must not hold the start either: the
// stack comes up, serves, and says the backup failed.

import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import {
  copyClusterTemplate,
  freePort,
  getFromListenAddress,
  makeDataDirectory,
  startStack,
  type RunningStack,
} from '../../tools/harness/stack.js';

const FAILURE_SEEN_TIMEOUT_MS = 90_000;
let stack: RunningStack | undefined;
let archive: string | undefined;
let unbackedStack: RunningStack | undefined;

afterAll(async () => {
  if (archive !== undefined) fs.chmodSync(archive, 0o750);
  await stack?.dispose();
  await unbackedStack?.dispose();
});

async function credit(valor: number, on = stack!): Promise<number> {
  const response = await fetch(`${on.baseUrl}/clientes/3/transacoes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ valor, tipo: 'c', descricao: 'arquivo' }),
  });
  return response.status;
}

describe('backups: failing WAL archiving', () => {
  it('is loud (log line, /ready degradado, metric) and never stops the ledger', async () => {
    // A short archive_timeout: every few writes close a segment to archive.
    stack = await startStack({
      port: await freePort(),
      dataDirectory: makeDataDirectory(),
      environment: { CREBITO_ARCHIVE_TIMEOUT_S: '1' },
    });
    archive = path.join(stack.dataDirectory, 'backup', 'repo', 'archive');
    await waitForOrThrow('the archive directory', () => fs.existsSync(archive!), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    fs.chmodSync(archive, 0o000);
    const admin = stack.state().instances[0]!.admin!;
    const client = new pg.Client({ connectionString: stack.state().databaseUrl });
    await client.connect();
    try {
      await waitForOrThrow(
        '/ready naming the failing archive',
        async () => {
          expect(await credit(1)).toBe(200);
          await client.query('SELECT pg_switch_wal()');
          const ready = await getFromListenAddress(admin, '/ready', 2000);
          expect(ready?.status).toBe(200);
          return (ready?.body ?? '').includes('WAL archiving failing');
        },
        { timeoutMs: FAILURE_SEEN_TIMEOUT_MS, intervalMs: 1000 },
      );
    } finally {
      await client.end();
    }
    expect(await credit(1)).toBe(200);
    const metrics = await getFromListenAddress(admin, '/metrics', 2000);
    expect(metrics?.body).toMatch(/^crebito_wal_archive_failing 1$/m);
    await waitForOrThrow("the launcher's error line", () => stack!.output().includes('WAL ARCHIVING IS FAILING'), {
      timeoutMs: 15_000,
      intervalMs: 200,
    });
  });
});

/**
 * A data directory holding the run's cluster (made by the launcher's own initdb, as every lean stack's) with one file
 * pgBackRest cannot read: the server never opens it, a full backup copies every file and fails on it.
 */
function dataDirectoryWithAnUnreadableFile(): string {
  const dataDirectory = makeDataDirectory();
  const cluster = path.join(dataDirectory, 'postgres');
  copyClusterTemplate(inject('clusterTemplate'), dataDirectory);
  const unreadable = path.join(cluster, 'unreadable-by-backups');
  fs.writeFileSync(unreadable, 'pgBackRest may not read this\n');
  // Root's, mode 0: the cluster's user (pgBackRest runs as it) may not open it; as another user, neither may its owner.
  fs.chmodSync(unreadable, 0o000);
  return dataDirectory;
}

type Health = { backups: { lastBackupAgeS: number | null; degraded: string[] } };

describe('backups: a failing first backup', () => {
  it('a first full backup that failed could hold the start: the stack comes up, serves and says so', async () => {
    unbackedStack = await startStack({
      port: await freePort(),
      dataDirectory: dataDirectoryWithAnUnreadableFile(),
      // pgBackRest tries a file it could not open twice more, 15 s apart, before the backup fails: at once instead.
      environment: { PGBACKREST_JOB_RETRY: '0' },
    });
    const output = unbackedStack.output();
    expect(output).toMatch(/"msg":"full backup FAILED; the next try is in/);
    expect(output).toContain('unreadable-by-backups');
    expect(output).toContain('no base backup yet: serving WITHOUT one');
    expect(await credit(1, unbackedStack)).toBe(200);
    const admin = unbackedStack.state().instances[0]!.admin!;
    // The instances read the launcher's status file at most once a second.
    let health: Health | undefined;
    await waitForOrThrow(
      "/health naming the first backup's failure",
      async () => {
        health = JSON.parse((await getFromListenAddress(admin, '/health', 2000))!.body) as Health;
        return health.backups.degraded.some((reason) => reason.startsWith('last backup failed at '));
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    expect(health!.backups.lastBackupAgeS).toBeNull();
    expect(health!.backups.degraded).toContain('no backup yet');
    const ready = await getFromListenAddress(admin, '/ready', 2000);
    expect(ready?.status).toBe(200);
    expect(ready?.body).toContain('last backup failed at ');
  });
});
