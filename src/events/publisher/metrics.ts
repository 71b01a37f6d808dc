// Owns the publisher's Prometheus metrics: rows published and confirmed by
// the broker (across runs), how far behind the stream is (rows, WAL bytes,
// seconds), the WAL the slot holds back, whether it is lost, and the lag from
// a commit to the broker's confirmation of its last row.

import client from 'prom-client';
import type { Confirmations } from './confirmations.js';
import type { SlotFacts } from './lag.js';

const LAG_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class PublisherMetrics {
  private readonly registry = new client.Registry();
  /** Totals of the runs that have ended; the running one's are added at read time. */
  private publishedBefore = 0;
  private confirmedBefore = 0;
  private unroutableBefore = 0;
  private current: Confirmations | undefined;
  private readonly lag = new client.Histogram({
    name: 'crebito_events_lag_seconds',
    help: 'From a commit to the broker confirming its last row',
    buckets: LAG_BUCKETS_SECONDS,
    registers: [this.registry],
  });
  private readonly gauges = {
    behindMessages: this.gauge(
      'crebito_events_behind_messages',
      'Committed rows the broker does not hold yet (while not streaming: read from the slot, at most 100000)',
    ),
    behindBytes: this.gauge(
      'crebito_events_behind_bytes',
      "WAL between the server's position and the slot's confirmed one",
    ),
    behindSeconds: this.gauge(
      'crebito_events_behind_seconds',
      'Age of the oldest commit the broker does not wholly hold',
    ),
    retainedBytes: this.gauge('crebito_events_retained_wal_bytes', 'WAL the replication slot keeps from removal'),
    lost: this.gauge(
      'crebito_events_slot_lost',
      '1 once the slot exceeded max_slot_wal_keep_size (or is gone) and cannot resume',
    ),
    streaming: this.gauge('crebito_events_streaming', '1 while the publisher streams from the slot to the broker'),
  };

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'crebito_events_' });
    new client.Counter({
      name: 'crebito_events_published_total',
      help: 'Rows handed to the broker (again after a restart: at least once)',
      registers: [this.registry],
      collect: this.totalOf('published'),
    });
    new client.Counter({
      name: 'crebito_events_confirmed_total',
      help: 'Rows the broker confirmed',
      registers: [this.registry],
      collect: this.totalOf('confirmed'),
    });
    new client.Counter({
      name: 'crebito_events_unroutable_total',
      help: 'Rows the broker returned: no queue was bound for them',
      registers: [this.registry],
      collect: this.totalOf('unroutable'),
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  get published(): number {
    return this.publishedBefore + (this.current?.published ?? 0);
  }

  get confirmed(): number {
    return this.confirmedBefore + (this.current?.confirmed ?? 0);
  }

  get unroutable(): number {
    return this.unroutableBefore + (this.current?.unroutable ?? 0);
  }

  private gauge(name: string, help: string): client.Gauge {
    return new client.Gauge({ name, help, registers: [this.registry] });
  }

  private totalOf(which: 'published' | 'confirmed' | 'unroutable'): (this: client.Counter) => void {
    const metrics = this;
    return function collect() {
      this.reset();
      this.inc(metrics[which]);
    };
  }

  released(committedAtMs: number, _messages: number): void {
    this.lag.observe(Math.max(0, Date.now() - committedAtMs) / 1000);
  }

  sessionStarted(running: Confirmations): void {
    this.current = running;
  }

  sessionEnded(ended: Confirmations): void {
    this.publishedBefore += ended.published;
    this.confirmedBefore += ended.confirmed;
    this.unroutableBefore += ended.unroutable;
    this.current = undefined;
  }

  observeHealth(
    slot: SlotFacts,
    behind: { messages: number | null; bytes: number; seconds: number | null },
    streaming: boolean,
    lost: boolean,
  ): void {
    this.gauges.behindMessages.set(behind.messages ?? Number.NaN);
    this.gauges.behindBytes.set(behind.bytes);
    this.gauges.behindSeconds.set(behind.seconds ?? Number.NaN);
    this.gauges.retainedBytes.set(slot.retainedBytes);
    this.gauges.lost.set(lost ? 1 : 0);
    this.gauges.streaming.set(streaming ? 1 : 0);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
