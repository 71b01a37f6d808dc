// PostgreSQL alone (db-alone.ts) on a thread of its own: the bench's main
// thread reads /proc for the CPU table every few seconds, synchronously,
// which on a busy machine holds its event loop for milliseconds; calls
// timed there would carry those pauses as PostgreSQL's.

import { parentPort, workerData } from 'node:worker_threads';
import type { HistogramSnapshot } from '../load/latency-histogram.js';
import { runDbAlone, type DbAloneOptions } from './db-alone.js';

export interface DbAloneTask extends DbAloneOptions {
  databaseUrl: string;
}

export interface DbAloneWorkerResult {
  latency: HistogramSnapshot;
  sendLag: HistogramSnapshot;
  errors: number;
  firstError: string | undefined;
}

const task = workerData as DbAloneTask;
const outcome = await runDbAlone(task.databaseUrl, task);
const result: DbAloneWorkerResult = {
  latency: outcome.latency.snapshot(),
  sendLag: outcome.sendLag.snapshot(),
  errors: outcome.errors,
  firstError: outcome.firstError,
};
parentPort!.postMessage(result);
