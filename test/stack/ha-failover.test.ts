// CREBITO_HA=on end to end: three PostgreSQL nodes under Patroni, etcd and
// HAProxy, the instances and nginx in front. Under a stream of writes the
// primary's host is lost (every process of the node killed, its link down
// for a while, as the ledger checker's kill-primary-node does). Then: writes
// are acknowledged again, every acknowledged write is in the database, no
// answer that said "not applied" left a row, and the old primary streams
// again as a standby of the new one. Timings are the checker's business
// (docs/ha.md), not this test's. Backups are on (the default): a WAL
// segment closed on the primary reaches the pgBackRest repository, and so
// does one closed on the new primary after the failover, on its new timeline.

import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HA_FAULTS } from '../../tools/ledger-check/ha-faults.js';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../../tools/harness/stack.js';
import { waitFor } from '../../src/shared/wait.js';

// Bounded waits: the asynchronous push stores a segment within a second or two on a quiet machine.
const ARCHIVED_WITHIN_MS = 90_000;
// Bounded: the writer stops after this many requests or when told.
const WRITES_MAX = 20_000;
const WRITE_PAUSE_MS = 20;

let stack: RunningStack;

beforeAll(async () => {
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: { CREBITO_HA: 'on' },
  });
});

afterAll(async () => {
  await stack?.dispose();
});

interface Write {
  descricao: string;
  status: number;
  mayHaveBeenApplied: boolean | undefined;
  startedMs: number;
}

/** Credits one after another until stopped; each remembered with its answer. */
function writeUntilStopped(elapsed: () => number): { writes: Write[]; stop: () => Promise<void> } {
  const writes: Write[] = [];
  let stopped = false;
  const loop = (async () => {
    for (let index = 0; index < WRITES_MAX && !stopped; index++) {
      const descricao = `ha${index.toString(36).padStart(8, '0')}`;
      const startedMs = elapsed();
      try {
        const response = await fetch(`${stack.baseUrl}/clientes/3/transacoes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ valor: 1, tipo: 'c', descricao }),
        });
        const body = (await response.json()) as { pode_ter_sido_aplicada?: boolean };
        writes.push({ descricao, status: response.status, mayHaveBeenApplied: body.pode_ter_sido_aplicada, startedMs });
      } catch {
        writes.push({ descricao, status: 0, mayHaveBeenApplied: true, startedMs });
      }
      await new Promise((resolve) => setTimeout(resolve, WRITE_PAUSE_MS));
    }
  })();
  return {
    writes,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Closes the primary's WAL segment; the name of the segment closed. */
async function switchWal(): Promise<string> {
  const client = new pg.Client({ connectionString: stack.state().databaseUrl });
  await client.connect();
  try {
    return (await client.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name')).rows[0]!.name;
  } finally {
    await client.end();
  }
}

/** Whether the repository holds that segment (stored as <segment>-<sha1>.lz4, encrypted, under its archive id). */
function inRepository(segment: string): boolean {
  const archive = path.join(stack.dataDirectory, 'backup', 'repo', 'archive', 'crebito');
  if (!fs.existsSync(archive)) return false;
  return fs.readdirSync(archive).some((id) => {
    const directory = path.join(archive, id, segment.slice(0, 16));
    return fs.existsSync(directory) && fs.readdirSync(directory).some((name) => name.startsWith(`${segment}-`));
  });
}

async function expectArchived(segment: string): Promise<void> {
  const waitedMs = await waitFor(() => inRepository(segment), { timeoutMs: ARCHIVED_WITHIN_MS, intervalMs: 250 });
  expect(waitedMs, `${segment} in the repository`).toBeDefined();
}

describe('CREBITO_HA=on: the primary host lost under writes', () => {
  it('lists three nodes, one primary, with their processes', () => {
    const nodes = stack.state().databaseNodes!;
    expect(nodes.map((node) => node.name)).toEqual(['pg1', 'pg2', 'pg3']);
    expect(nodes.filter((node) => node.role === 'primary')).toHaveLength(1);
    for (const node of nodes) expect(node.pids.length).toBeGreaterThan(1);
  });

  // Regression: in HA mode state.json carried the superuser's and the
  // instances' passwords in its URLs (the tools need them over TCP).
  it('keeps the database passwords out of state.json, and the tools still connect', async () => {
    const written = fs.readFileSync(path.join(stack.dataDirectory, 'run', 'state.json'), 'utf8');
    const state = stack.state();
    const passwords = JSON.parse(fs.readFileSync(state.passwordsFile!, 'utf8')) as Record<string, string>;
    expect(Object.keys(passwords).sort()).toEqual(['crebito_api', 'postgres']);
    for (const password of Object.values(passwords)) {
      expect(password.length).toBeGreaterThan(0);
      expect(written).not.toContain(password);
      expect(written).not.toContain(encodeURIComponent(password));
    }
    expect(fs.statSync(state.passwordsFile!).mode & 0o077).toBe(0);
    for (const url of [state.databaseUrl, state.instanceDatabaseUrl]) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.end();
    }
  });

  it('a new cluster pushed its first segments before the stanza existed: no archiving failed', async () => {
    const client = new pg.Client({ connectionString: stack.state().databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ failed: string }>('SELECT failed_count AS failed FROM pg_stat_archiver');
      expect(Number(rows[0]!.failed), "the primary's failed archive_command runs").toBe(0);
    } finally {
      await client.end();
    }
    expect(stack.output()).not.toContain('WAL ARCHIVING IS FAILING');
  });

  it("archives the primary's WAL into the backup repository", async () => {
    await expectArchived(await switchWal());
  });

  it('acknowledges writes again, loses none, and the old primary rejoins as a standby', async () => {
    const start = performance.now();
    const context = {
      dataDirectory: stack.dataDirectory,
      port: stack.port,
      elapsed: () => performance.now() - start,
      log: () => undefined,
    };
    const writer = writeUntilStopped(context.elapsed);
    const faultAtMs = context.elapsed();
    const fault = await HA_FAULTS['kill-primary-node'].inject(context);
    await writer.stop();

    expect(fault.rejoinedMs, 'the old primary streams from the new one').not.toBeNull();
    expect(fault.promotedMs, 'another node became primary').not.toBeNull();
    // Sent once another node was seen leading: the old primary was dead by then.
    const promotedAtMs = faultAtMs + fault.promotedMs!;
    expect(
      writer.writes.filter((write) => write.startedMs > promotedAtMs && write.status === 200).length,
      'writes acknowledged by the new primary',
    ).toBeGreaterThan(0);
    const database = new pg.Client({ connectionString: stack.state().databaseUrl });
    await database.connect();
    try {
      const stored = new Set(
        (await database.query('SELECT descricao FROM transacoes WHERE cliente_id = 3')).rows.map(
          (row) => row.descricao as string,
        ),
      );
      const lost = writer.writes.filter((write) => write.status === 200 && !stored.has(write.descricao));
      const notAppliedButStored = writer.writes.filter(
        (write) => write.status !== 200 && write.mayHaveBeenApplied === false && stored.has(write.descricao),
      );
      expect(lost).toEqual([]);
      expect(notAppliedButStored).toEqual([]);
    } finally {
      await database.end();
    }
  });

  it('archives from the new primary, on its new timeline', async () => {
    const segment = await switchWal();
    expect(segment.slice(0, 8), 'a timeline after the first').not.toBe('00000001');
    await expectArchived(segment);
  });
});
