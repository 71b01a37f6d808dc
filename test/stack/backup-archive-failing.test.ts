// Archiving that fails must be loud and must not stop the ledger: with the
// repository's archive made unwritable under a running stack, writes keep
// being acknowledged while the launcher logs the failure, the admin /ready
// stays 200 but names it in `degradado`, and /metrics says so.

import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { waitForOrThrow } from '../../src/shared/wait.js';
import {
  freePort,
  getFromListenAddress,
  makeDataDirectory,
  startStack,
  type RunningStack,
} from '../../tools/harness/stack.js';

const FAILURE_SEEN_TIMEOUT_MS = 90_000;
let stack: RunningStack | undefined;
let archive: string | undefined;

afterAll(async () => {
  if (archive !== undefined) fs.chmodSync(archive, 0o750);
  await stack?.dispose();
});

async function credit(valor: number): Promise<number> {
  const response = await fetch(`${stack!.baseUrl}/clientes/3/transacoes`, {
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
