// The change stream (docs/events.md) on a whole stack with a real RabbitMQ
// under the launcher: every committed transaction reaches a consumer's queue,
// once after dedupe, with the ledger's content, in history order per client,
// and still does after each fault: the publisher killed mid-stream, the
// broker killed (and restarted by the launcher), the broker frozen (the API
// keeps answering, /health says how far behind), a PostgreSQL crash. Last,
// the bound: a slot held past max_slot_wal_keep_size is reported lost, not
// silently dropped, and `npm run events -- recover` brings the stream back
// with every row. One stack (one broker start) for the whole file.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/shared/wait.js';
import { StreamRecorder } from '../../tools/events/recorder.js';
import { judgeStream, readLedgerRows, type StreamVerdict } from '../../tools/ledger-check/stream-verdict.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../../tools/harness/stack.js';
import { postTransaction } from '../support/http.js';

let stack: RunningStack;
let recorder: StreamRecorder;
let lastIdBefore = 0;
let recoverSince = '';
const CLIENTS = [1, 2, 3, 4, 5];
const CONCURRENCY = 8;
const CATCH_UP_TIMEOUT_MS = 60_000;

const events = () => stack.state().events!;

async function sql<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: stack.state().databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** count transactions spread over the clients, CONCURRENCY at a time; resolves with how many were answered 200. */
async function load(count: number, during?: () => Promise<void>): Promise<number> {
  let next = 0;
  let answered = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const response = await postTransaction(stack.baseUrl, CLIENTS[index % CLIENTS.length]!, {
        valor: 1 + (index % 50),
        tipo: index % 3 === 0 ? 'd' : 'c',
        descricao: `ev${index}`,
      }).catch(() => undefined);
      if (response?.status === 200) answered++;
    }
  };
  await Promise.all([...Array.from({ length: CONCURRENCY }, worker), during?.()]);
  return answered;
}

async function publisherHealth(): Promise<{
  state: string;
  behind: { messages: number | null; bytes: number; seconds: number | null };
}> {
  const response = await fetch(`http://${events().publisher.admin}/health`);
  return response.json() as Promise<{
    state: string;
    behind: { messages: number | null; bytes: number; seconds: number | null };
  }>;
}

/** `npm run events -- ...` against this stack, as an operator runs it. */
function runEvents(
  args: string[],
  environment: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist', 'tools', 'events', 'main.js'), ...args], {
    env: { ...process.env, CREBITO_DATA_DIR: stack.dataDirectory, ...environment },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

/** Waits until the consumer holds every ledger row, then judges. */
async function streamVerdict(): Promise<StreamVerdict> {
  const ledger = await readLedgerRows(stack.state().databaseUrl, lastIdBefore);
  await waitFor(() => judgeStream(recorder.deliveries, ledger, []).missing.length === 0, {
    timeoutMs: CATCH_UP_TIMEOUT_MS,
    intervalMs: 200,
  });
  return judgeStream(recorder.deliveries, ledger, []);
}

function expectHolds(verdict: StreamVerdict): void {
  expect({ missing: verdict.missing, invented: verdict.invented, outOfOrder: verdict.outOfOrderClients }).toEqual({
    missing: [],
    invented: [],
    outOfOrder: [],
  });
  expect(verdict.ledgerRows).toBeGreaterThan(0);
}

const signal = (pid: number | undefined, name: NodeJS.Signals) => {
  expect(pid).toBeTypeOf('number');
  process.kill(pid!, name);
};

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer().once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** The broker's port and the two after it (its Erlang ports), free, below 30000 (events/config.ts). */
async function freeBrokerPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + 3 * Math.floor(Math.random() * 3000);
    if ((await Promise.all([port, port + 1, port + 2].map(portFree))).every(Boolean)) return port;
  }
  throw new Error('no free ports for the broker');
}

beforeAll(async () => {
  const brokerPort = await freeBrokerPort();
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: {
      CREBITO_EVENTS: 'on',
      CREBITO_EVENTS_BROKER_PORT: String(brokerPort),
      CREBITO_EVENTS_ADMIN_PORT: '0',
      CREBITO_EVENTS_WAL_KEEP_MB: '64',
    },
  });
  lastIdBefore = Number((await sql<{ last: string | null }>('SELECT max(id) AS last FROM transacoes'))[0]!.last ?? 0);
  recorder = new StreamRecorder(`amqp://127.0.0.1:${brokerPort}`, 'test.events');
  await recorder.start();
});

afterAll(async () => {
  await recorder?.stop();
  await stack?.dispose();
});

describe('the change stream', () => {
  it("carries every committed transaction once after dedupe, with the ledger's content, in each client's history order", async () => {
    expect(await load(200)).toBe(200);
    const verdict = await streamVerdict();
    expectHolds(verdict);
    expect(verdict.ledgerRows).toBe(200);
    expect(events().broker.pid).toBeTypeOf('number');
    expect(events().broker.url).not.toContain('guest');
  });

  it("runs the broker, the publisher and its WAL sender where the ledger comes first (CREBITO_EVENTS_CPU's default)", async () => {
    const { cpu } = (await publisherHealth()) as unknown as { cpu: string };
    const walSender = async () =>
      Number(
        (await sql<{ pid: string }>("SELECT pid FROM pg_stat_replication WHERE application_name = 'crebito-events'"))[0]
          ?.pid,
      );
    const streamPids = async () => [events().broker.pid!, events().publisher.pid!, await walSender()];
    /** Each of the stream's processes placed? (The publisher places its WAL sender a moment after it streams.) */
    const placed = async (isPlaced: (pid: number) => boolean) => {
      const each = async () => (await streamPids()).map((pid) => Number.isInteger(pid) && isPlaced(pid));
      await waitFor(async () => (await each()).every(Boolean), { timeoutMs: 10_000, intervalMs: 100 });
      expect(await each()).toEqual([true, true, true]);
    };
    if (cpu.startsWith('cgroup:')) {
      // As root (CI, this machine): the stream's own cgroup, a sixteenth of any other process's weight.
      const directory = cpu.slice('cgroup:'.length);
      expect(fs.readFileSync(path.join(directory, 'cpu.shares'), 'utf8').trim()).toBe('64');
      // The cap's quota waits for a busy machine (cpu-cap.ts); its period is set once it first caps.
      expect(fs.readFileSync(path.join(directory, 'cpu.cfs_quota_us'), 'utf8').trim()).toMatch(/^(-1|20000)$/);
      const inStreamGroup = (pid: number) =>
        /^\d+:cpu:(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1] === `/${path.basename(directory)}`;
      await placed(inStreamGroup);
      // The ledger's own PostgreSQL processes stay where they were.
      const ledgerPids = await sql<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE backend_type IN ('checkpointer', 'walwriter')",
      );
      expect(ledgerPids.map(({ pid }) => inStreamGroup(pid))).toEqual([false, false]);
    } else {
      // Without cgroups: nice 10 on every thread.
      expect(cpu).toBe('nice:10');
      const niceOf = (pid: number, task: string) =>
        Number(fs.readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
      const niced = (pid: number) => fs.readdirSync(`/proc/${pid}/task`).every((task) => niceOf(pid, task) === 10);
      await placed(niced);
    }
  });

  it("npm run events -- tail --client N prints that client's stream, one JSON line per transaction", async () => {
    const tail = spawn(
      process.execPath,
      [path.join(PROJECT_ROOT, 'dist', 'tools', 'events', 'main.js'), 'tail', '--client', '4', '--count', '2'],
      {
        env: { ...process.env, CREBITO_DATA_DIR: stack.dataDirectory },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let output = '';
    tail.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise((resolve) => tail.once('exit', resolve));
    // Its queue exists once it consumes; until then a message would not reach it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const [client, descricao] of [
      [3, 'other'],
      [4, 'first'],
      [4, 'second'],
    ] as const) {
      expect((await postTransaction(stack.baseUrl, client, { valor: 5, tipo: 'c', descricao })).status).toBe(200);
    }
    expect(await exited).toBe(0);
    const lines = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { cliente_id: number; descricao: string });
    expect(lines.map((line) => [line.cliente_id, line.descricao])).toEqual([
      [4, 'first'],
      [4, 'second'],
    ]);
  });

  it('resumes from the slot after the publisher is killed mid-stream (SIGKILL)', async () => {
    const killed = events().publisher.pid;
    await load(600, async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      signal(killed, 'SIGKILL');
    });
    expect(
      await waitFor(() => typeof events().publisher.pid === 'number' && events().publisher.pid !== killed, {
        timeoutMs: 30_000,
        intervalMs: 100,
      }),
    ).toBeDefined();
    expectHolds(await streamVerdict());
  });

  it('loses nothing confirmed when RabbitMQ is killed and the launcher starts it again', async () => {
    const killed = events().broker.pid;
    await load(400, async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      signal(killed, 'SIGKILL');
    });
    expect(
      await waitFor(() => typeof events().broker.pid === 'number' && events().broker.pid !== killed, {
        timeoutMs: 60_000,
        intervalMs: 200,
      }),
    ).toBeDefined();
    expectHolds(await streamVerdict());
  });

  it('keeps the API answering while RabbitMQ is frozen, says how far behind it is, and catches up', async () => {
    const frozen = events().broker.pid;
    signal(frozen, 'SIGSTOP');
    try {
      // The publisher notices within two AMQP heartbeats.
      expect(
        await waitFor(async () => (await publisherHealth()).state === 'not-streaming', {
          timeoutMs: 40_000,
          intervalMs: 250,
        }),
      ).toBeDefined();
      expect(await load(50)).toBe(50);
      expect(
        await waitFor(async () => ((await publisherHealth()).behind.messages ?? 0) >= 50, {
          timeoutMs: 10_000,
          intervalMs: 250,
        }),
      ).toBeDefined();
      const { behind } = await publisherHealth();
      expect(behind.bytes).toBeGreaterThan(0);
      expect(behind.seconds).toBeGreaterThan(0);
    } finally {
      signal(frozen, 'SIGCONT');
    }
    expectHolds(await streamVerdict());
    expect(
      await waitFor(async () => (await publisherHealth()).state === 'streaming', {
        timeoutMs: 30_000,
        intervalMs: 250,
      }),
    ).toBeDefined();
  });

  it('resumes after a PostgreSQL crash (immediate shutdown, recovery from the WAL)', async () => {
    const crashed = stack.state().postgres!.pid;
    await load(300, async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      signal(crashed, 'SIGQUIT');
    });
    await waitFor(() => stack.state().postgres?.pid !== crashed, { timeoutMs: 30_000, intervalMs: 100 });
    const answers = async () =>
      (await postTransaction(stack.baseUrl, 1, { valor: 1, tipo: 'c', descricao: 'back' }).catch(() => undefined))
        ?.status === 200;
    expect(await waitFor(answers, { timeoutMs: 30_000, intervalMs: 200 })).toBeDefined();
    expect(await load(20)).toBe(20);
    expectHolds(await streamVerdict());
  });

  it('reports the slot lost, never silently, once it would hold more WAL than max_slot_wal_keep_size', async () => {
    const frozen = events().broker.pid;
    // Where the operator will recover from: a little before the stream stopped.
    recoverSince = new Date(Date.now() - 1000).toISOString();
    signal(frozen, 'SIGSTOP');
    try {
      expect(
        await waitFor(async () => (await publisherHealth()).state === 'not-streaming', {
          timeoutMs: 40_000,
          intervalMs: 250,
        }),
      ).toBeDefined();
      // 6 WAL segments of 16 MB past a 64 MB bound, then a checkpoint, which removes them.
      for (let segment = 0; segment < 6; segment++)
        await sql("SELECT pg_logical_emit_message(false, 'filler', 'x'), pg_switch_wal()");
      await sql('CHECKPOINT');
      expect(
        await waitFor(async () => (await publisherHealth()).state === 'slot-lost', {
          timeoutMs: 10_000,
          intervalMs: 250,
        }),
      ).toBeDefined();
      const metrics = await (await fetch(`http://${events().publisher.admin}/metrics`)).text();
      expect(metrics).toMatch(/^crebito_events_slot_lost 1$/m);
      expect(await load(10)).toBe(10);
    } finally {
      signal(frozen, 'SIGCONT');
    }
  });

  // Goes on from the lost slot the test above leaves.
  it('npm run events -- recover brings the stream back: every row after dedupe, in order, none invented', async () => {
    const ledger = await readLedgerRows(stack.state().databaseUrl, lastIdBefore);
    // The rows committed since the stream stopped are in no slot: without recovery they stay missing.
    expect(judgeStream(recorder.deliveries, ledger, []).missing.length).toBeGreaterThanOrEqual(10);
    const refused = await runEvents(['recover', '--since', recoverSince, '--limit', '1']);
    expect([refused.code, refused.stderr]).toEqual([
      2,
      expect.stringMatching(/more than the limit of 1: .*nothing was sent/),
    ]);
    const asInstance = await runEvents(['recover'], { CREBITO_EVENTS_DATABASE_URL: stack.state().instanceDatabaseUrl });
    expect([asInstance.code, asInstance.stderr]).toEqual([2, expect.stringMatching(/cannot make a replication slot/)]);
    expect((await publisherHealth()).state).toBe('slot-lost');
    // The lost slot dropped by hand and the publisher restarted: it makes no slot of its own (one made now
    // would skip the rows since), and still says lost; recover takes a missing slot as it takes a lost one.
    const dropped = waitFor(
      async () => (await sql("SELECT pg_drop_replication_slot('crebito_eventos')").catch(() => null)) !== null,
      {
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    );
    expect(await dropped).toBeDefined();
    const killed = events().publisher.pid;
    signal(killed, 'SIGKILL');
    const restarted = waitFor(
      async () =>
        events().publisher.pid !== killed && (await publisherHealth().catch(() => null))?.state === 'slot-lost',
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    expect(await restarted).toBeDefined();
    expect(await sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'crebito_eventos'")).toEqual([]);
    // POSTs go on while it runs: each commit is in its snapshot or in the new slot, never neither.
    let recovered: { code: number | null; stderr: string } | undefined;
    expect(
      await load(300, async () => {
        recovered = await runEvents(['recover', '--since', recoverSince]);
      }),
    ).toBe(300);
    expect([recovered?.code, recovered?.stderr]).toEqual([0, expect.stringMatching(/rows sent and confirmed/)]);
    expect(await load(20)).toBe(20);
    expectHolds(await streamVerdict());
    expect(
      await waitFor(async () => (await publisherHealth()).state === 'streaming', {
        timeoutMs: 30_000,
        intervalMs: 250,
      }),
    ).toBeDefined();
    const again = await runEvents(['recover']);
    expect([again.code, again.stderr]).toEqual([2, expect.stringMatching(/the slot is not lost/)]);
  });
});
