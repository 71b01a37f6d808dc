// Owns the cost tool's consumer as a process of its own (forked by cost.ts),
// so that it can be put where the stream's processes are on the CPU
// (CREBITO_EVENTS_CPU, src/events/cpu.ts) instead of sharing the load
// generator's process. It reads the stream into a StreamRecorder, reports
// every PROGRESS_INTERVAL_MS how many distinct rows it holds, and on 'stop'
// sends back every delivery and exits.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Delivery } from './recorder.js';
import { StreamRecorder } from './recorder.js';

const PROGRESS_INTERVAL_MS = 200;
const STOP_TIMEOUT_MS = 60_000;

type FromChild =
  { type: 'started' } | { type: 'progress'; distinct: number } | { type: 'stopped'; deliveries: Delivery[] };

/** The parent's side. */
export class ConsumerProcess {
  private child: ChildProcess | undefined;
  /** Distinct rows received so far (the child's last report). */
  distinct = 0;

  constructor(
    private readonly brokerUrl: string,
    private readonly queue: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves once its queue is declared (it collects from then on). */
  async start(): Promise<void> {
    const child = fork(fileURLToPath(import.meta.url), [this.brokerUrl, this.queue], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the consumer exited (${code}) before it started`)));
      child.on('message', (message: FromChild) => {
        if (message.type === 'started') resolve();
        if (message.type === 'progress') this.distinct = message.distinct;
      });
    });
  }

  /** Every delivery, as it came (duplicates too); the child exits. */
  async stop(): Promise<Delivery[]> {
    const child = this.child!;
    const stopped = new Promise<Delivery[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the consumer did not stop')), STOP_TIMEOUT_MS);
      child.on('message', (message: FromChild) => {
        if (message.type !== 'stopped') return;
        clearTimeout(timer);
        resolve(message.deliveries);
      });
    });
    child.send('stop');
    try {
      return await stopped;
    } finally {
      child.kill('SIGKILL');
    }
  }
}

async function runChild(brokerUrl: string, queue: string): Promise<void> {
  const recorder = new StreamRecorder(brokerUrl, queue);
  await recorder.start();
  const ids = new Set<number>();
  let counted = 0;
  const report = setInterval(() => {
    for (; counted < recorder.deliveries.length; counted++) ids.add(recorder.deliveries[counted]!.event.id);
    process.send!({ type: 'progress', distinct: ids.size } satisfies FromChild);
  }, PROGRESS_INTERVAL_MS);
  process.on('message', async (message) => {
    if (message !== 'stop') return;
    clearInterval(report);
    await recorder.stop();
    process.send!({ type: 'stopped', deliveries: recorder.deliveries } satisfies FromChild, () => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'started' } satisfies FromChild);
}

if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url))
  void runChild(process.argv[2]!, process.argv[3]!).catch((error: Error) => {
    console.error(`events:cost consumer: ${error.message}`);
    process.exit(1);
  });
