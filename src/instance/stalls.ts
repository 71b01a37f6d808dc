// Owns watching the instance's own pauses: how late its event loop runs a
// timer, and how long each garbage collection stops it. Both are metrics
// (metrics.ts) and, past the slow-request bound, a log line with the time it
// happened, so that a slow answer can be lined up with what the process was
// doing then (and with PostgreSQL's log; docs/operating.md, Logs, and the stalls measured
// in docs/performance.md).

import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import type { Log } from '../shared/log.js';

// prom-client's default metrics already read monitorEventLoopDelay
// (nodejs_eventloop_lag_*, reset at every scrape); this adds what they lack:
// a cumulative histogram Prometheus can take quantiles of over any window,
// and the time of each long pause.
/** How often the event loop's lateness is sampled: a pause is seen as soon as it ends, timed to a millisecond. */
const SAMPLE_INTERVAL_MS = 100;

const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

export interface StallRecorder {
  /** The event loop ran a timer this much later than asked. */
  eventLoopDelay(seconds: number): void;
  gcPause(kind: string, seconds: number): void;
}

export interface StallWatch {
  stop(): void;
}

export function watchStalls(options: { log: Log; logAboveMs: number; recorder: StallRecorder }): StallWatch {
  const { log, logAboveMs, recorder } = options;
  let expectedAt = performance.now() + SAMPLE_INTERVAL_MS;
  const timer = setInterval(() => {
    const now = performance.now();
    const lateMs = Math.max(0, now - expectedAt);
    expectedAt = now + SAMPLE_INTERVAL_MS;
    recorder.eventLoopDelay(lateMs / 1000);
    if (lateMs > logAboveMs) log.warn({ lateMs: Math.round(lateMs) }, 'event loop stalled');
  }, SAMPLE_INTERVAL_MS);
  timer.unref();
  const observer = new PerformanceObserver((entries) => {
    for (const entry of entries.getEntries()) {
      const kind = GC_KINDS[(entry as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other';
      recorder.gcPause(kind, entry.duration / 1000);
      if (entry.duration > logAboveMs)
        log.warn({ kind, durationMs: Math.round(entry.duration) }, 'long garbage collection pause');
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      clearInterval(timer);
      observer.disconnect();
    },
  };
}
