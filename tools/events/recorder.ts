// Owns reading the change stream for a check: a durable queue of its own,
// bound to every client's events, declared before the load starts so that
// nothing published meanwhile is missed, read until stopped; every delivery
// is kept as it came (duplicates too) with when it arrived. A broker restart
// breaks the connection: the recorder connects again and reads on from its
// queue, which kept the persistent messages. Only the checker and the tests
// use it; a consumer of the stream reads as `npm run events -- tail` does.

import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { EXCHANGE_NAME } from '../../src/events/config.js';
import type { TransactionEvent } from '../../src/events/publisher/message.js';

const RECONNECT_DELAY_MS = 500;
const PREFETCH = 1000;
// Bounds what one check can hold in memory.
export const DELIVERIES_MAX = 2_000_000;

export interface Delivery {
  event: TransactionEvent;
  receivedAtMs: number;
  redelivered: boolean;
}

export class StreamRecorder {
  readonly deliveries: Delivery[] = [];
  private connection: ChannelModel | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly brokerUrl: string,
    readonly queue: string,
  ) {}

  /** Declares the queue (so it collects from now on) and starts reading it. */
  async start(): Promise<void> {
    await this.connect();
    this.loop = this.keepReading();
  }

  private async connect(): Promise<Channel> {
    this.connection = await amqp.connect(this.brokerUrl);
    const closed = new Promise<void>((resolve) => {
      this.connection!.on('close', () => resolve());
      this.connection!.on('error', () => resolve());
    });
    const channel = await this.connection.createChannel();
    await channel.assertExchange(EXCHANGE_NAME, 'topic', { durable: true });
    await channel.assertQueue(this.queue, { durable: true });
    await channel.bindQueue(this.queue, EXCHANGE_NAME, 'clientes.*');
    await channel.prefetch(PREFETCH);
    await channel.consume(this.queue, (message) => {
      if (message === null) return;
      if (this.deliveries.length < DELIVERIES_MAX) {
        const event = JSON.parse(message.content.toString('utf8')) as TransactionEvent;
        this.deliveries.push({ event, receivedAtMs: Date.now(), redelivered: message.fields.redelivered });
      }
      channel.ack(message);
    });
    this.closed = closed;
    return channel;
  }

  private closed: Promise<void> = Promise.resolve();

  private async keepReading(): Promise<void> {
    while (!this.stopped) {
      await this.closed;
      if (this.stopped) return;
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
      await this.connect().catch(() => {
        this.closed = Promise.resolve();
      });
    }
  }

  /** Stops reading and deletes the queue. */
  async stop(): Promise<void> {
    this.stopped = true;
    try {
      const channel = await this.connection!.createChannel();
      await channel.deleteQueue(this.queue);
      await this.connection!.close();
    } catch {
      // The broker is gone: its queue goes with its data directory.
    }
    await this.loop;
  }
}
