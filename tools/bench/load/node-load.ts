// The bench's own load generator: worker threads (node-load-worker.ts), each
// with its share of the connections or of the arrival rate, started together
// and merged at the end. It runs both models; the bench uses it for the open
// model, which wrk lacks, and as the calibration's second generator.

import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { rawRequest } from './http-connection.js';
import { LatencyHistogram } from './latency-histogram.js';
import {
  checkModel,
  keepSlowest,
  type LoadGenerator,
  type LoadModel,
  type LoadOutcome,
  type LoadPlan,
  type SlowAnswer,
} from './load-generator.js';
import type { WorkerResult, WorkerTask } from './node-load-worker.js';
import { NODE_LOAD_WORKER_ENTRY } from '../paths.js';

/** Time for the workers to boot before the load begins, so they begin together. */
const START_DELAY_MS = 150;
/** One worker sends this many arrivals per second at most before a second one shares them. */
const OPEN_RATE_PER_SECOND_PER_WORKER_MAX = 4000;

/** As many workers as the load needs, and no more than there are cores: an idle worker still takes timer wake-ups. */
function workerCount(model: LoadModel): number {
  const cores = os.availableParallelism();
  if (model.kind === 'closed') return Math.min(cores, model.connections);
  return Math.min(cores, Math.ceil(model.ratePerSecond / OPEN_RATE_PER_SECOND_PER_WORKER_MAX));
}

/** Worker `index`'s part of the model: connections or rate split as evenly as whole numbers allow. */
function shareOf(model: LoadModel, index: number, workers: number): LoadModel {
  if (model.kind === 'open') return { ...model, ratePerSecond: model.ratePerSecond / workers };
  const connections = Math.floor(model.connections / workers) + (index < model.connections % workers ? 1 : 0);
  return { kind: 'closed', connections };
}

function runWorker(task: WorkerTask): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(NODE_LOAD_WORKER_ENTRY, { workerData: task });
    worker.once('message', (result: WorkerResult) => {
      resolve(result);
      // Its sockets are closed and its work done; nothing it still holds is wanted.
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`a load worker exited (${code}) before it reported`)));
  });
}

async function runNodeLoad(plan: LoadPlan): Promise<LoadOutcome> {
  checkModel(nodeLoad, plan.model);
  const url = new URL(plan.url);
  const requests = plan.requests.map((request) => rawRequest(url.host, request));
  const workers = workerCount(plan.model);
  const startAtEpochMs = Date.now() + START_DELAY_MS;
  const results = await Promise.all(
    Array.from({ length: workers }, (_, index) =>
      runWorker({
        host: url.hostname,
        port: Number(url.port),
        model: shareOf(plan.model, index, workers),
        durationMs: plan.durationSeconds * 1000,
        startAtEpochMs,
        requests,
        firstRequest: Math.floor((index * requests.length) / workers),
      }),
    ),
  );
  const latency = new LatencyHistogram();
  const sendLag = new LatencyHistogram();
  const statusCounts: Record<string, number> = {};
  let errors = 0;
  const slowest: SlowAnswer[] = [];
  for (const result of results) {
    for (const answer of result.slowest) keepSlowest(slowest, answer);
    latency.add(LatencyHistogram.fromSnapshot(result.latency));
    sendLag.add(LatencyHistogram.fromSnapshot(result.sendLag));
    for (const [status, count] of Object.entries(result.statusCounts))
      statusCounts[status] = (statusCounts[status] ?? 0) + count;
    errors += result.errors;
  }
  return {
    slowest,
    latency: latency.summary(),
    latencyHistogram: latency,
    sendLag: plan.model.kind === 'open' ? sendLag.summary() : undefined,
    statusCounts,
    errors,
    elapsedSeconds: plan.durationSeconds,
  };
}

export const nodeLoad: LoadGenerator = {
  name: `crebito's own (Node ${process.version}, worker threads)`,
  models: new Set(['closed', 'open']),
  run: runNodeLoad,
};
