// Owns one run of the stream: a connection to the broker and one to
// PostgreSQL's replication slot, from the slot's confirmed position on,
// until either fails. Each inserted transacoes row is published (persistent,
// message id = the row's id, routing key clientes.<id>) as soon as it is
// read; the slot is confirmed up to a commit only once the broker has
// confirmed every message up to it (confirmations.ts). Anything that goes
// wrong ends the run; the next run starts again from the slot, so a message
// the broker had not confirmed is sent again (a duplicate, never a gap).

import type { Socket } from 'node:net';
import amqp, { type ConfirmChannel, type ChannelModel } from 'amqplib';
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import type { Log } from '../../shared/log.js';
import { EXCHANGE_NAME, PUBLISHED_TABLE, STREAM_NAME } from '../config.js';
import { Confirmations } from './confirmations.js';
import { bigIntToLsn, lsnToBigInt } from './lsn.js';
import { eventOf, messagePropertiesOf, routingKeyOf, type RelationColumn } from './message.js';
import type { KeyNames } from './key-names.js';

// Received but not yet handed to the broker: past this the replication socket
// is paused, so a backlog waits in PostgreSQL's WAL, not in this process.
const QUEUED_MAX = 2000;
// Handed to the broker and not yet confirmed: the same, for the broker's side.
const IN_FLIGHT_MAX = 5000;
// Confirmations arrive in bursts; the slot is told at most this often.
const ACK_INTERVAL_MS = 20;
const AMQP_HEARTBEAT_S = 5;
// A frozen broker accepts the TCP connection and then says nothing.
const CONNECT_TIMEOUT_MS = 10_000;

export interface SessionOptions {
  databaseUrl: string;
  brokerUrl: string;
  keys: KeyNames;
  log: Log;
  /** Told of every step, so /health and /metrics can read it. */
  confirmations: Confirmations;
  /** Once both connections are up and the slot streams. */
  onStreaming: () => void;
}

// pgoutput sends every value as PostgreSQL's text, and the library parses
// each as it arrives with pg's parser for its type: a timestamptz would
// become a Date and lose its microseconds. In this process every value the
// stream carries stays text (message.ts types the ones it knows).
const TEXT_KEPT_TYPE_OIDS = [16, 20, 21, 23, 26, 114, 700, 701, 1082, 1114, 1184, 1186, 1700, 3802];
for (const oid of TEXT_KEPT_TYPE_OIDS) pg.types.setTypeParser(oid, (text: string) => text);

type Item = { kind: 'data'; message: any } | { kind: 'keepalive'; lsn: bigint; reply: boolean };

/** A dead broker (or a frozen one) is noticed within two heartbeats. */
function withHeartbeat(url: string): string {
  return /[?&]heartbeat=/.test(url) ? url : `${url}${url.includes('?') ? '&' : '?'}heartbeat=${AMQP_HEARTBEAT_S}`;
}

/**
 * The exchange, idempotent, so every run declares it. No queue: each
 * consumer binds its own (a durable one keeps the stream while it is away).
 * A message no queue is bound for is returned by the broker (mandatory) and
 * counted, not stored: crebito_events_unroutable_total (docs/events.md).
 */
export async function declareTopology(channel: ConfirmChannel): Promise<void> {
  await channel.assertExchange(EXCHANGE_NAME, 'topic', { durable: true });
}

/** Runs until something fails; always rejects, after closing both connections. */
export async function runSession(options: SessionOptions): Promise<never> {
  const session = new Session(options);
  try {
    return await session.run();
  } finally {
    await session.close();
  }
}

class Session {
  private broker: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private readonly service: LogicalReplicationService;
  private readonly relations = new Map<number, { name: string; columns: RelationColumn[] }>();
  private readonly queue: Item[] = [];
  private draining = false;
  private ackedLsn = 0n;
  private ackTimer: NodeJS.Timeout | undefined;
  private brokerSocketCorked = false;
  private fail: (error: Error) => void = () => undefined;
  private readonly failed: Promise<never>;

  constructor(private readonly options: SessionOptions) {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    this.failed.catch(() => undefined);
    this.service = new LogicalReplicationService(
      // ISO text in UTC, so every timestamp reads the same whatever the server's defaults.
      {
        connectionString: options.databaseUrl,
        options: '-c DateStyle=ISO -c TimeZone=UTC',
        application_name: 'crebito-events',
      },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
  }

  async run(): Promise<never> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the broker did not answer within ${CONNECT_TIMEOUT_MS} ms`)),
        CONNECT_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([this.connectBroker(), deadline]);
    } finally {
      clearTimeout(timer);
    }
    return this.stream();
  }

  private async connectBroker(): Promise<void> {
    this.broker = await amqp.connect(withHeartbeat(this.options.brokerUrl));
    this.broker.on('error', (error: Error) => this.fail(error));
    this.broker.on('close', () => this.fail(new Error('the broker closed the connection')));
    this.channel = await this.broker.createConfirmChannel();
    this.channel.on('error', (error: Error) => this.fail(error));
    this.channel.on('close', () => this.fail(new Error('the broker closed the channel')));
    await declareTopology(this.channel);
    this.channel.on('return', () => this.options.confirmations.unroutable++);
  }

  private async stream(): Promise<never> {
    this.service.on('start', () => this.options.onStreaming());
    this.service.on('error', (error: Error) => this.fail(error));
    // Both kinds go through one queue, in the order they arrived: a keepalive
    // may move the slot only past what was read before it.
    this.service.on('data', (_lsn: string, message: unknown) => this.enqueue({ kind: 'data', message }));
    this.service.on('heartbeat', (lsn: string, _at: number, reply: boolean) =>
      this.enqueue({ kind: 'keepalive', lsn: lsnToBigInt(lsn), reply }),
    );
    // From 0/0: the server starts at the slot's confirmed position.
    const streaming = this.service
      .subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [STREAM_NAME] }), STREAM_NAME)
      .then(() => {
        throw new Error('the replication stream ended');
      });
    this.options.log.info('streaming from the replication slot to the broker');
    return Promise.race([streaming, this.failed]);
  }

  async close(): Promise<void> {
    clearTimeout(this.ackTimer);
    this.queue.length = 0;
    await this.service.destroy().catch(() => undefined);
    await this.broker?.close().catch(() => undefined);
  }

  /** The replication connection's socket: paused while the queue is full (the library keeps it, and pauses it the same way). */
  private socket(): Socket | undefined {
    return (this.service as unknown as { _connection?: { stream?: Socket } })._connection?.stream;
  }

  private enqueue(item: Item): void {
    this.queue.push(item);
    if (this.queue.length >= QUEUED_MAX) this.socket()?.pause();
    if (!this.draining) void this.drain().catch((error: Error) => this.fail(error));
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        await this.handle(this.queue.shift()!);
        if (this.queue.length < QUEUED_MAX / 2) this.socket()?.resume();
      }
    } finally {
      this.draining = false;
    }
  }

  private async handle(item: Item): Promise<void> {
    const confirmations = this.options.confirmations;
    if (item.kind === 'keepalive') {
      confirmations.caughtUpTo(item.lsn);
      if (item.reply) this.acknowledge();
      else this.scheduleAck();
      return;
    }
    const message = item.message;
    switch (message.tag) {
      case 'relation':
        this.relations.set(message.relationOid, { name: message.name, columns: message.columns });
        return;
      case 'begin':
        confirmations.begin(Number(message.commitTime / 1000n));
        return;
      case 'insert':
        await this.publish(message.relation.relationOid, message.new);
        return;
      case 'commit':
        confirmations.commit(lsnToBigInt(message.commitEndLsn));
        this.scheduleAck();
        return;
      default:
        // Only inserts are published: transacoes refuses UPDATE, DELETE and TRUNCATE.
        if (['update', 'delete', 'truncate'].includes(message.tag))
          this.options.log.warn(`ignoring a ${message.tag} on the published table`);
    }
  }

  private async publish(relationOid: number, row: Record<string, string | null>): Promise<void> {
    const relation = this.relations.get(relationOid);
    if (relation === undefined || relation.name !== PUBLISHED_TABLE)
      throw new Error(`a row of an unknown relation ${relationOid}`);
    const keyId = row.chave_api_id;
    if (keyId !== null && keyId !== undefined) await this.options.keys.load(Number(keyId));
    const event = eventOf(relation.columns, row, (id) => this.options.keys.nameOf(id));
    const confirmations = this.options.confirmations;
    while (confirmations.inFlight >= IN_FLIGHT_MAX) await new Promise((resolve) => setTimeout(resolve, 5));
    const confirmed = confirmations.publishing();
    const body = Buffer.from(JSON.stringify(event));
    this.corkBrokerSocket();
    const room = this.channel!.publish(
      EXCHANGE_NAME,
      routingKeyOf(event),
      body,
      messagePropertiesOf(event),
      (error: unknown) => {
        if (error === null || error === undefined) {
          confirmed();
          this.scheduleAck();
        } else this.fail(new Error('the broker refused a message (nack)'));
      },
    );
    if (!room) await new Promise((resolve) => this.channel!.once('drain', resolve));
  }

  /**
   * amqplib writes each message to the socket by itself: one system call per
   * row, most of the publisher's CPU. Its writer runs at the event loop's
   * next turn (setImmediate); held until the turn after that, every message
   * published in this one leaves in a single write. A wait for the broker
   * (drain, in-flight bound) always crosses those turns, so nothing waits on
   * a held write.
   */
  private corkBrokerSocket(): void {
    if (this.brokerSocketCorked) return;
    const socket = (this.broker as unknown as { connection?: { stream?: Socket } }).connection?.stream;
    if (socket === undefined || socket.destroyed) return;
    socket.cork();
    this.brokerSocketCorked = true;
    setImmediate(() =>
      setImmediate(() => {
        this.brokerSocketCorked = false;
        socket.uncork();
      }),
    );
  }

  private scheduleAck(): void {
    if (this.ackTimer !== undefined || this.options.confirmations.confirmedLsn <= this.ackedLsn) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      this.acknowledge();
    }, ACK_INTERVAL_MS);
  }

  /** Tells the slot how far the broker holds everything (also the reply a keepalive asks for). */
  private acknowledge(): void {
    const lsn = this.options.confirmations.confirmedLsn;
    if (lsn === 0n) return;
    // The library reports the position it is given plus one; the slot's
    // confirmed position must be exactly the commit's end, or a commit that
    // starts right there would be skipped on the next start.
    void this.service.acknowledge(bigIntToLsn(lsn - 1n));
    this.ackedLsn = lsn;
  }
}
