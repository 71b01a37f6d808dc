// The bench's load generator for now: autocannon, in this process. It shares
// the two cores with the stack, so it is a weak generator; see
// load-generator.ts for how another takes its place.

import autocannon from 'autocannon';
import { LatencyHistogram } from './latency-histogram.js';
import type { LoadGenerator, LoadOutcome, LoadPlan } from './load-generator.js';

export const autocannonLoad: LoadGenerator = async (plan: LoadPlan): Promise<LoadOutcome> => {
  // autocannon's own histogram keeps whole milliseconds; a local service
  // answers in fractions of one, so latencies are recorded here, to the µs.
  const latency = new LatencyHistogram();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: plan.url,
      connections: plan.connections,
      duration: plan.durationSeconds,
      ...(plan.overallRate === undefined ? {} : { overallRate: Math.max(1, Math.round(plan.overallRate)) }),
      requests: [{
        setupRequest: (request) => {
          const next = plan.nextRequest();
          // A fresh headers object each time: autocannon writes Content-Length
          // into it, and a GET must not inherit the previous POST's length.
          return { ...request, method: next.method, path: next.path, body: next.body ?? '', headers: { 'content-type': 'application/json' } };
        },
      }],
    }, (error, finished) => (error ? reject(error) : resolve(finished)));
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => latency.record(responseTimeMs));
  });
  const statusCounts: Record<string, number> = {};
  for (const [status, { count }] of Object.entries(result.statusCodeStats ?? {}) as [string, { count: number }][]) {
    statusCounts[status] = Number(count);
  }
  return { latency, statusCounts, errors: result.errors + result.timeouts };
};
