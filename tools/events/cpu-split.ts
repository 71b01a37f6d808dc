// `node dist/tools/events/cpu-split.js`: where the change stream's CPU goes,
// per thousand rows: the CPU time (user + system, from /proc) that RabbitMQ,
// the publisher and its WAL sender spend while a fixed number of POSTs is
// streamed, beside PostgreSQL's backends and the instances. A rough split
// to choose what to make cheaper, not a published cost (events:cost is).

import fs from 'node:fs';
import pg from 'pg';
import { parseArgs } from 'node:util';
import { freePort, makeDataDirectory, startStack } from '../harness/stack.js';
import { numberOption } from '../harness/target.js';
import { ConsumerProcess } from './consumer-process.js';

const BROKER_PORT = 22_685;
const CONCURRENCY = 16;
const TICKS_PER_SECOND = 100;

/** CPU seconds a process (all its threads) has used. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

async function pids(databaseUrl: string): Promise<{ walSender: number; backends: number[] }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const walSender = await client.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_replication WHERE application_name = 'crebito-events'",
    );
    const backends = await client.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    );
    return { walSender: walSender.rows[0]!.pid, backends: backends.rows.map((row) => row.pid) };
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '20000' } } });
  const rows = numberOption(values.rows, 'rows', { min: 1000, max: 1_000_000, whole: true });
  const stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: {
      CREBITO_EVENTS: 'on',
      CREBITO_EVENTS_CPU: 'normal',
      CREBITO_EVENTS_BROKER_PORT: String(BROKER_PORT),
      CREBITO_EVENTS_ADMIN_PORT: '0',
      CREBITO_DATABASE_MODE: 'durable',
      CREBITO_BACKUPS: 'off',
    },
  });
  const consumer = new ConsumerProcess(`amqp://127.0.0.1:${BROKER_PORT}`, 'cpu-split');
  try {
    await consumer.start();
    const state = stack.state();
    const { walSender, backends } = await pids(state.databaseUrl);
    const processes: Record<string, number[]> = {
      rabbitmq: [state.events!.broker.pid!],
      publisher: [state.events!.publisher.pid!],
      'WAL sender': [walSender],
      consumer: [consumer.pid!],
      'PostgreSQL backends': backends,
      instances: state.instances.map((instance) => instance.pid!).filter(Boolean),
    };
    const read = () =>
      Object.fromEntries(
        Object.entries(processes).map(([name, list]) => [name, list.reduce((sum, pid) => sum + cpuSeconds(pid), 0)]),
      );
    const before = read();
    const startedAt = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < rows) {
        const index = next++;
        const response = await fetch(`${stack.baseUrl}/clientes/${1 + (index % 5)}/transacoes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ valor: 1, tipo: 'c', descricao: 'split' }),
        });
        if (response.status !== 200) throw new Error(`a POST answered ${response.status}`);
        await response.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    while (consumer.distinct < rows) await new Promise((resolve) => setTimeout(resolve, 100));
    const seconds = (performance.now() - startedAt) / 1000;
    const after = read();
    console.log(`${rows} rows in ${seconds.toFixed(1)} s; CPU ms per 1000 rows:`);
    for (const name of Object.keys(processes))
      console.log(`  ${name}: ${(((after[name]! - before[name]!) * 1000 * 1000) / rows).toFixed(0)}`);
  } finally {
    await consumer.stop().catch(() => undefined);
    await stack.dispose();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
