// A real backup and a real point-in-time restore, end to end, as an operator
// runs them: the stack archives its WAL and takes its first full backup on
// its own, before it says it is up; transactions are acknowledged before and after an instant T;
// `npm run restore -- --to T --into <dir>` rebuilds the ledger as it was at
// T; a stack started on <dir> serves exactly what was acknowledged before T.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUP_STATUS_FILE, type BackupStatus } from '../../src/shared/backup-status.js';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import {
  freePort,
  getFromListenAddress,
  makeDataDirectory,
  startStack,
  type RunningStack,
} from '../../tools/harness/stack.js';
import { archiveUpToNow, withClient } from '../../tools/ledger-check/backup-drill-steps.js';

const ARCHIVE_TIMEOUT_MS = 30_000;
const BACKUP_TOOL = path.join(PROJECT_ROOT, 'dist', 'tools', 'backup', 'main.js');

const stacks: RunningStack[] = [];
afterAll(async () => {
  for (const stack of stacks) await stack.dispose();
});

function readStatus(dataDirectory: string): BackupStatus | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDirectory, 'run', BACKUP_STATUS_FILE), 'utf8')) as BackupStatus;
  } catch {
    return undefined;
  }
}

/** WAL segment files ahead of where the next record goes: ready for the first commits, none to create under them. */
async function segmentsAhead(url: string): Promise<number> {
  const result = await withClient(url, (client) =>
    client.query<{ ahead: number }>(
      `SELECT count(*)::int AS ahead FROM pg_ls_waldir()
        WHERE name ~ '^[0-9A-F]{24}$' AND name > pg_walfile_name(pg_current_wal_insert_lsn())`,
    ),
  );
  return result.rows[0]!.ahead;
}

async function credit(stack: RunningStack, client: number, valor: number): Promise<void> {
  const response = await fetch(`${stack.baseUrl}/clientes/${client}/transacoes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ valor, tipo: 'c', descricao: 'backup' }),
  });
  expect(response.status).toBe(200);
}

async function statement(
  stack: RunningStack,
  client: number,
): Promise<{ saldo: { total: number }; ultimas_transacoes: { valor: number }[] }> {
  const response = await fetch(`${stack.baseUrl}/clientes/${client}/extrato`);
  expect(response.status).toBe(200);
  return (await response.json()) as { saldo: { total: number }; ultimas_transacoes: { valor: number }[] };
}

/**
 * Closes the current WAL segment and waits until it is in the repository: everything before it can then be recovered.
 */
function backupTool(dataDirectory: string, args: string[]): string {
  const result = spawnSync(process.execPath, [BACKUP_TOOL, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CREBITO_DATA_DIR: dataDirectory },
  });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

describe('backups', () => {
  it('restores to an instant: what was acknowledged before it, nothing after, served by a stack', async () => {
    const source = await startStack({ port: await freePort(), dataDirectory: makeDataDirectory() });
    stacks.push(source);
    // A new ledger is up only once its first full backup exists: nothing it acknowledges is ever unrestorable.
    expect(readStatus(source.dataDirectory)?.lastBackup?.type).toBe('full');
    const output = source.output();
    expect(output.indexOf('"msg":"full backup taken"')).toBeGreaterThan(-1);
    expect(output.indexOf('"msg":"full backup taken"')).toBeLessThan(output.indexOf('"msg":"up on http'));
    // Regression: the backup ends on a segment switch and a new cluster had none to recycle, so the first commit
    // zero-filled and fsynced a 16 MB segment under the first requests (20-38 ms at 0.2 s into every just-up run).
    expect(await segmentsAhead(source.state().databaseUrl)).toBeGreaterThan(0);
    // A restore needs a backup that stopped before T, and pgBackRest records its stop in whole seconds.
    const stoppedAtMs = Date.parse(readStatus(source.dataDirectory)!.lastBackup!.stoppedAt);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAtMs + 1000 - Date.now())));
    for (const valor of [100, 200, 300]) await credit(source, 1, valor);
    const instant = new Date();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await credit(source, 1, 7);
    await credit(source, 2, 9);
    await archiveUpToNow(source.state().databaseUrl, ARCHIVE_TIMEOUT_MS);

    expect(backupTool(source.dataDirectory, ['list'])).toMatch(/full .* recovers to any time from/);
    // An instance reads the launcher's status file at most once a second, so its /health may trail the file by that.
    let backups: unknown;
    await waitForOrThrow(
      "the instance's /health reports the first backup",
      async () => {
        const admin = await getFromListenAddress(source.state().instances[0]!.admin!, '/health', 2000);
        backups = JSON.parse(admin!.body).backups;
        return typeof (backups as { lastBackupAgeS?: unknown }).lastBackupAgeS === 'number';
      },
      { timeoutMs: 5000, intervalMs: 200 },
    ).catch(() => undefined);
    expect(backups).toMatchObject({ archiveFailing: false, lastBackupAgeS: expect.any(Number) });

    const restored = makeDataDirectory();
    fs.rmSync(restored, { recursive: true });
    backupTool(source.dataDirectory, ['restore', '--to', instant.toISOString(), '--into', restored]);
    const copy = await startStack({ port: await freePort(), dataDirectory: restored });
    stacks.push(copy);
    const one = await statement(copy, 1);
    expect(one.saldo.total).toBe(600);
    expect(one.ultimas_transacoes.map((transaction) => transaction.valor)).toEqual([300, 200, 100]);
    expect((await statement(copy, 2)).saldo.total).toBe(0);
    expect((await statement(source, 1)).saldo.total).toBe(607);
  });
});
