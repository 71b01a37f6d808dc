// `npm run events -- tail [--client N] [--queue NAME] [--count K]`: prints the
// change stream (docs/events.md) one JSON line per transaction, duplicates
// dropped (dedupe.ts). `npm run events -- recover [...]` brings the stream
// back after its slot was lost (src/events/recover.ts), as the database's
// superuser (CREBITO_EVENTS_DATABASE_URL, or the stack's). Reads the broker of the stack running on
// CREBITO_DATA_DIR (its state.json), or CREBITO_EVENTS_URL. Without --queue
// it follows the stream from now on, in a queue of its own that goes away
// with it; --queue reads a durable queue of the consumer's that keeps the
// stream while nobody reads (docs/events.md).

import path from 'node:path';
import amqp from 'amqplib';
import { EXCHANGE_NAME } from '../../src/events/config.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { readStackState } from '../../src/stack/state.js';
import { RECOVER_USAGE, runRecoverCommand } from '../../src/events/recover.js';
import { ClientDedupe } from './dedupe.js';

const PREFETCH = 500;

interface TailOptions {
  client: number | undefined;
  queue: string | undefined;
  count: number | undefined;
}

function parseArguments(args: string[]): TailOptions {
  if (args[0] !== 'tail')
    throw new Error(`usage: npm run events -- tail [--client N] [--queue NAME] [--count K]\n${RECOVER_USAGE}`);
  const options: TailOptions = { client: undefined, queue: undefined, count: undefined };
  for (let index = 1; index < args.length; index += 2) {
    const [flag, value] = [args[index], args[index + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--client' || flag === '--count') {
      const number = Number(value);
      if (!Number.isInteger(number) || number < 1) throw new Error(`${flag} must be a whole number from 1`);
      options[flag === '--client' ? 'client' : 'count'] = number;
    } else if (flag === '--queue') options.queue = value;
    else throw new Error(`unknown option ${flag}`);
  }
  return options;
}

const stackState = () => readStackState(path.resolve(process.env.CREBITO_DATA_DIR ?? path.join(PROJECT_ROOT, '.data')));

function brokerUrl(): string {
  if (process.env.CREBITO_EVENTS_URL) return process.env.CREBITO_EVENTS_URL;
  const events = stackState().events;
  if (events === undefined) throw new Error('the running stack has no change stream: start it with CREBITO_EVENTS=on');
  // The local broker's guest user (localhost only) is amqplib's default.
  return events.broker.url;
}

async function tail(options: TailOptions): Promise<void> {
  const connection = await amqp.connect(brokerUrl());
  const channel = await connection.createChannel();
  await channel.prefetch(PREFETCH);
  let queue = options.queue;
  if (queue === undefined) {
    queue = (await channel.assertQueue('', { exclusive: true, autoDelete: true })).queue;
    await channel.bindQueue(
      queue,
      EXCHANGE_NAME,
      options.client === undefined ? 'clientes.*' : `clientes.${options.client}`,
    );
  }
  const dedupe = new ClientDedupe();
  let printed = 0;
  await channel.consume(queue, (message) => {
    if (message === null) return;
    const event = JSON.parse(message.content.toString('utf8')) as { id: number; cliente_id: number };
    const wanted = options.client === undefined || event.cliente_id === options.client;
    if (wanted && dedupe.accept(event)) {
      process.stdout.write(`${message.content.toString('utf8')}\n`);
      printed++;
    }
    channel.ack(message);
    if (options.count !== undefined && printed >= options.count) void connection.close().then(() => process.exit(0));
  });
  const stop = () => void connection.close().finally(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

const args = process.argv.slice(2);
if (args[0] === 'recover') {
  const databaseUrl = () => process.env.CREBITO_EVENTS_DATABASE_URL || stackState().databaseUrl;
  void runRecoverCommand(args.slice(1), { databaseUrl, brokerUrl }).then((code) => process.exit(code));
} else {
  tail(parseArguments(args)).catch((error: unknown) => {
    console.error(`[events] ${(error as Error).message}`);
    process.exit(1);
  });
}
