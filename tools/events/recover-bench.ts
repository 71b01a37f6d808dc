// `node dist/tools/events/recover-bench.js [--rows N]`: how long
// `npm run events -- recover` takes per row, for docs/events.md's figure. A
// throwaway stack with the stream on and a local RabbitMQ, N rows written
// straight into transacoes by the superuser (not through the ledger's
// functions: only the count matters here, and the stack is deleted after),
// the slot dropped as if lost, then a recovery of every row, timed. A queue
// of the bench's own is bound, so the broker stores every message as a
// consumer's queue would make it.

import { spawn } from 'node:child_process';
import path from 'node:path';
import amqp from 'amqplib';
import pg from 'pg';
import { EXCHANGE_NAME, STREAM_NAME } from '../../src/events/config.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../harness/stack.js';

const ROWS_MAX = 5_000_000;

async function sql(stack: RunningStack, text: string): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ connectionString: stack.state().databaseUrl });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/** Drops the slot as if it were lost; the publisher's WAL sender holds it, so that is ended first, until it sticks. */
async function loseSlot(stack: RunningStack): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const [row] = await sql(
      stack,
      `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '${STREAM_NAME}' AND active`,
    ).then(() => sql(stack, `SELECT pg_drop_replication_slot('${STREAM_NAME}') AS dropped`).catch(() => [undefined]));
    if (row !== undefined) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('could not drop the slot');
}

function recover(stack: RunningStack): Promise<{ code: number | null; seconds: number; output: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist', 'tools', 'events', 'main.js'), 'recover'], {
    env: { ...process.env, CREBITO_DATA_DIR: stack.dataDirectory },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve) =>
    child.once('close', (code) => resolve({ code, seconds: (performance.now() - started) / 1000, output })),
  );
}

async function main(): Promise<void> {
  const rowsIndex = process.argv.indexOf('--rows');
  const rows = rowsIndex < 0 ? 200_000 : Number(process.argv[rowsIndex + 1]);
  if (!Number.isInteger(rows) || rows < 1 || rows > ROWS_MAX) throw new Error(`--rows: 1 to ${ROWS_MAX}`);
  const brokerPort = 20_000 + 3 * Math.floor(Math.random() * 3000);
  const stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: {
      CREBITO_EVENTS: 'on',
      CREBITO_EVENTS_BROKER_PORT: String(brokerPort),
      CREBITO_EVENTS_ADMIN_PORT: String(await freePort()),
    },
  });
  const broker = await amqp.connect(`amqp://127.0.0.1:${brokerPort}`);
  try {
    const channel = await broker.createChannel();
    await channel.assertExchange(EXCHANGE_NAME, 'topic', { durable: true });
    await channel.assertQueue('bench.recover', { durable: true });
    await channel.bindQueue('bench.recover', EXCHANGE_NAME, 'clientes.*');
    await loseSlot(stack);
    await sql(
      stack,
      `INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos)
       SELECT 1 + i % 5, 1, 'c', 'bench', 0 FROM generate_series(1, ${rows}) AS i`,
    );
    const result = await recover(stack);
    const held = (await channel.checkQueue('bench.recover')).messageCount;
    console.log(result.output.trim());
    console.log(
      `recover: exit ${result.code}, ${rows} rows in ${result.seconds.toFixed(1)} s ` +
        `(${Math.round(rows / result.seconds)} rows/s, the process's start included); the queue holds ${held}`,
    );
  } finally {
    await broker.close().catch(() => undefined);
    await stack.dispose();
  }
}

main().catch((error: unknown) => {
  console.error((error as Error).message);
  process.exit(1);
});
