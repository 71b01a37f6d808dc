// Owns noticing an instance that is alive but no longer answers (stopped by
// SIGSTOP, stuck in a loop, swapped out): its process has not exited, so the
// supervisor never hears of it, and nginx only routes around it. The launcher
// asks each instance's admin address for /health, with a bound on each ask;
// an instance that has not answered for CREBITO_LIVENESS_TIMEOUT_MS is killed
// (SIGKILL reaches even a stopped process), and its supervisor restarts it
// like any crash. Long before that, an instance that misses one ask's
// deadline is taken out of nginx's rotation (rotation.ts), and put back once
// it answers again: new requests stop going to a frozen instance within
// about PROBE_INTERVAL_MS + PROBE_DEADLINE_MS, not after one of them timed out.

import type { StackLog } from '../shared/log.js';
import type { Child } from './child.js';
import { getFromListenAddress } from './http.js';
import type { Supervised } from './supervisor.js';

const PROBE_INTERVAL_MS = 250;
// Each ask is bounded, so one silent instance never holds up the next ask. An
// instance whose event loop cannot answer /health (no database involved) in
// this long would make every request it holds late too.
export const PROBE_DEADLINE_MS = 500;

export interface LivenessOptions {
  instance: Supervised;
  /** Where the running instance serves /health, once it said so. */
  admin: () => string | null;
  timeoutMs: number;
  /** It missed an ask's deadline (or refused it): take it out of nginx's rotation. */
  onMissed: () => void;
  /** It answered: back in rotation. */
  onAnswered: () => void;
  log: StackLog;
}

/** Watches one supervised instance until stop() is called. */
export function watchLiveness(options: LivenessOptions): { stop(): void } {
  let watched: Child | undefined;
  let lastAnsweredAt = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const probeOnce = async () => {
    const child = options.instance.running;
    const admin = options.admin();
    if (child !== watched || admin === null) {
      // A new process (or one not yet serving): its time starts now.
      watched = child;
      lastAnsweredAt = performance.now();
      return;
    }
    if (child === undefined) return;
    const answer = await getFromListenAddress(admin, '/health', Math.min(PROBE_DEADLINE_MS, options.timeoutMs));
    if (stopped || options.instance.running !== child) return;
    if (answer === undefined) options.onMissed();
    else {
      lastAnsweredAt = performance.now();
      options.onAnswered();
    }
    const silentMs = performance.now() - lastAnsweredAt;
    if (silentMs < options.timeoutMs || stopped || options.instance.running !== child) return;
    options.log.warn(
      `${options.instance.name} (pid ${child.identity.pid}) has not answered /health for ${Math.round(silentMs)} ms; killing it (SIGKILL) so it is restarted`,
    );
    watched = undefined;
    try {
      // Our own child, still running as far as its supervisor knows: the pid is its.
      process.kill(child.identity.pid, 'SIGKILL');
    } catch (error) {
      // It exited meanwhile, and its supervisor restarts it anyway.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void probeOnce().finally(schedule), PROBE_INTERVAL_MS);
    timer.unref();
  };
  schedule();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
