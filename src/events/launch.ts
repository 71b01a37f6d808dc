// Owns the change stream's part of `npm start` (CREBITO_EVENTS=on): the local
// RabbitMQ (unless CREBITO_EVENTS_URL names a broker) and the publisher, each
// supervised like every other child, what state.json records of them, and
// the settings the embedded PostgreSQL needs for logical decoding. The
// launcher calls in at four points: plan, start the broker (beside the
// database), start the publisher (once the schema is in), stop.

import path from 'node:path';
import { startChild } from '../stack/child.js';
import type { SupervisionHooks } from '../stack/children.js';
import { PROJECT_ROOT } from '../stack/paths.js';
import type { EventsState, RecordedProcess } from '../stack/state.js';
import { Supervised } from '../stack/supervisor.js';
import { readEventsConfig, type EventsConfig } from './config.js';
import { startLocalBroker, stopPortMapper, type LocalBroker } from './broker.js';
import { StreamCpuCap } from './cpu-cap.js';
import { place, placementText, preparePlacement, releasePlacement, type Placement } from './cpu.js';

export const PUBLISHER_ENTRY = path.join(PROJECT_ROOT, 'dist', 'src', 'events', 'publisher', 'main.js');
const PUBLISHER_READY_TIMEOUT_MS = 30_000;
const PUBLISHER_STOP_TIMEOUT_MS = 5000;

const recorded = (supervised: Supervised | undefined): RecordedProcess =>
  supervised?.running?.identity ?? { pid: undefined };

export class EventsStack {
  private readonly broker: Supervised<LocalBroker> | undefined;
  private readonly publisher: Supervised;
  /** The publisher's /health and /metrics; kept across its restarts, so Prometheus's target stays right. */
  private admin: string | null = null;
  /** Where the stream's processes run on the CPU, decided once the stack starts (cpu.ts). */
  private placement: Placement = { kind: 'none' };
  private cap: StreamCpuCap | undefined;

  /** undefined when CREBITO_EVENTS is off: plain `npm start` runs nothing of this. */
  static plan(dataDirectory: string, databaseUrl: () => string, hooks: SupervisionHooks): EventsStack | undefined {
    const config = readEventsConfig(process.env);
    return config.enabled ? new EventsStack(config, dataDirectory, databaseUrl, hooks) : undefined;
  }

  private constructor(
    private readonly config: EventsConfig,
    dataDirectory: string,
    databaseUrl: () => string,
    private readonly hooks: SupervisionHooks,
  ) {
    const plan = { directory: path.join(dataDirectory, 'rabbitmq'), port: config.brokerPort };
    this.broker =
      config.brokerUrl !== undefined
        ? undefined
        : new Supervised({
            name: 'RabbitMQ',
            start: () => startLocalBroker({ ...plan, placement: this.placement }, hooks.log),
            ...hooks,
          });
    this.publisher = new Supervised({ name: 'events', start: () => this.spawnPublisher(databaseUrl()), ...hooks });
  }

  get brokerUrl(): string {
    return this.config.brokerUrl ?? `amqp://guest:guest@127.0.0.1:${this.config.brokerPort}`;
  }

  async startBroker(): Promise<void> {
    this.placement = preparePlacement(this.config.cpu, this.config.brokerPort);
    this.hooks.log.info(
      `the change stream's CPU (CREBITO_EVENTS_CPU=${this.config.cpu}): ${placementText(this.placement)}`,
    );
    this.cap = new StreamCpuCap(this.placement, this.config.cpuCapPercent, () => this.admin);
    await this.broker?.start();
  }

  async startPublisher(): Promise<void> {
    await this.publisher.start();
    this.cap?.start();
  }

  private spawnPublisher(databaseUrl: string) {
    return startChild({
      name: 'events',
      command: process.execPath,
      // Where its WAL sender goes on the CPU: the launcher's decision, not a setting (cpu.ts).
      args: [PUBLISHER_ENTRY, placementText(this.placement)],
      spawnOptions: {
        detached: true,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: {
          ...process.env,
          CREBITO_EVENTS_DATABASE_URL: databaseUrl,
          CREBITO_EVENTS_URL: this.brokerUrl,
          CREBITO_EVENTS_ADMIN_LISTEN: this.admin ?? `127.0.0.1:${this.config.adminPort}`,
        },
      },
      waitUntilReady: (started) => {
        if (started.pid !== undefined) place(started.pid, this.placement, true);
        return new Promise<void>((resolve) =>
          started.on('message', (message: { type?: string; admin?: string }) => {
            if (message.type !== 'ready') return;
            this.admin = message.admin ?? null;
            resolve();
          }),
        );
      },
      readyTimeoutMs: PUBLISHER_READY_TIMEOUT_MS,
      // Whatever it had not had confirmed is sent again by the next one.
      stopSignal: 'SIGTERM',
      stopTimeoutMs: PUBLISHER_STOP_TIMEOUT_MS,
      forceSignal: 'SIGKILL',
      log: this.hooks.log,
    });
  }

  /** For Prometheus's scrape list, beside the instances. */
  adminTargets(): { name: string; admin: string }[] {
    return this.admin === null ? [] : [{ name: 'events', admin: this.admin }];
  }

  state(): EventsState {
    return {
      publisher: { ...recorded(this.publisher), admin: this.admin },
      broker: {
        url: this.brokerUrl.replace(/\/\/[^@/]*@/, '//'),
        ...(this.broker === undefined ? {} : recorded(this.broker)),
      },
    };
  }

  async stop(): Promise<void> {
    this.cap?.stop();
    await this.publisher.stop();
    await this.broker?.stop();
    if (this.broker !== undefined) stopPortMapper(this.config.brokerPort);
    await releasePlacement(this.placement);
  }
}
