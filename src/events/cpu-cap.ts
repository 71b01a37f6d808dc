// Owns the hard CPU cap on the stream's cgroup (CREBITO_EVENTS_CPU_CAP,
// docs/events.md "Cost"). A small cpu.shares is not enough at saturation:
// the ledger's processes block often (on commits, sockets, locks), and each
// time they do the stream runs in the gap, about a quarter of the machine in
// all. A cap (cpu.cfs_quota_us) holds the stream to a share of one core, so
// during a burst its work waits in the slot and runs after. Only while the
// machine is busy (less than BUSY_IDLE_SHARE of it idle over the last
// second): otherwise there is CPU to spare and the stream takes it, so the
// cap costs no lag at a steady rate and a burst's backlog is caught up as
// soon as it ends. Bounded: while the slot's confirmed position is more than
// LIFT_BYTES of WAL behind, or the oldest row owed to the broker committed
// more than LIFT_SECONDS ago, or the lag cannot be read, the cap is lifted
// (the stream keeps only its small weight). Bytes alone would not do: at a
// moderate rate on a machine busy with other work, a capped stream could fall
// minutes behind before the WAL it holds reached LIFT_BYTES. A lift for lag
// holds at least LIFTED_HOLD_MS, and the cap comes back once the stream is
// within RESTORE_BYTES and RESTORE_SECONDS.

import fs from 'node:fs';
import path from 'node:path';
import type { Placement } from './cpu.js';

// Several of the kernel's 5 ms bandwidth slices per period even at 10%: a quota below one slice throttles a
// second CPU's threads at once, whatever the group uses.
const PERIOD_US = 100_000;
const CHECK_INTERVAL_MS = 1000;
const HEALTH_TIMEOUT_MS = 500;
/** About 20 s of the WAL a saturated ledger writes (1.7 MB/s measured): the most the cap may hold back. */
export const LIFT_BYTES = 32 * 2 ** 20;
const RESTORE_BYTES = 16 * 2 ** 20;
/** A burst's lag the cap may cause (7.7 s at most after 10 s of saturation measured): past it, the stream runs. */
export const LIFT_SECONDS = 10;
const RESTORE_SECONDS = 2;
/** The publisher's seconds read 0 between two commits owed even while behind: a lift for lag is not undone at once. */
const LIFTED_HOLD_MS = 10_000;
/** Below this share of the machine idle, it is busy (with the stream off, saturation left 6-8% idle). */
export const BUSY_IDLE_SHARE = 0.25;

/** The machine's CPU time so far, in ticks: all of it, idle, and waiting on the disk. */
export function machineTicks(): { total: number; idle: number; iowait: number } {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { total: fields.reduce((sum, value) => sum + value, 0), idle: fields[3]!, iowait: fields[4]! };
}

/** How far behind the stream is: the slot's WAL, and how long ago the oldest row owed to the broker committed. */
export interface Behind {
  bytes: number;
  seconds: number;
}

/** From the publisher's /health; undefined when it cannot be read. */
async function readBehind(admin: string | null): Promise<Behind | undefined> {
  if (admin === null) return undefined;
  try {
    const response = await fetch(`http://${admin}/health`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    const body = (await response.json()) as { behind?: { bytes?: unknown; seconds?: unknown } };
    const { bytes, seconds } = body.behind ?? {};
    if (typeof bytes !== 'number') return undefined;
    return { bytes, seconds: typeof seconds === 'number' ? seconds : 0 };
  } catch {
    return undefined;
  }
}

/** Too far behind to hold the stream back any longer. */
export function lagged(behind: Behind): boolean {
  return behind.bytes > LIFT_BYTES || behind.seconds > LIFT_SECONDS;
}

/** Capped or lifted, from how far behind the stream is and how idle the machine was: the rule, apart from its effects. */
export function shouldCap(capped: boolean, behind: Behind | undefined, idleShare: number): boolean {
  if (behind === undefined || lagged(behind) || idleShare >= BUSY_IDLE_SHARE) return false;
  return capped || (behind.bytes < RESTORE_BYTES && behind.seconds < RESTORE_SECONDS);
}

export class StreamCpuCap {
  private timer: NodeJS.Timeout | undefined;
  private capped = false;
  private liftedForLagUntilMs = 0;
  private ticks = machineTicks();

  /** percent: of one core; 0, or a placement that is not a cgroup, and there is no cap. */
  constructor(
    private readonly placement: Placement,
    private readonly percent: number,
    private readonly admin: () => string | null,
  ) {}

  start(): void {
    if (this.placement.kind !== 'cgroup' || this.timer !== undefined) return;
    // A cgroup left by an earlier start (cpu.ts reuses it) may still hold that start's cap.
    this.write(false);
    if (this.percent === 0) return;
    this.timer = setInterval(() => void this.check(), CHECK_INTERVAL_MS);
    this.timer.unref();
    void this.check();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    const ticks = machineTicks();
    // iowait counts as idle: no CPU is wanted then.
    const idleTicks = ticks.idle + ticks.iowait - (this.ticks.idle + this.ticks.iowait);
    const idleShare = idleTicks / Math.max(1, ticks.total - this.ticks.total);
    this.ticks = ticks;
    const behind = await readBehind(this.admin());
    const nowMs = Date.now();
    if (behind !== undefined && lagged(behind)) this.liftedForLagUntilMs = nowMs + LIFTED_HOLD_MS;
    const capped = nowMs >= this.liftedForLagUntilMs && shouldCap(this.capped, behind, idleShare);
    if (capped !== this.capped && this.timer !== undefined) this.write(capped);
  }

  private write(capped: boolean): void {
    if (this.placement.kind !== 'cgroup') return;
    const quota = capped ? Math.round((PERIOD_US * this.percent) / 100) : -1;
    try {
      fs.writeFileSync(path.join(this.placement.directory, 'cpu.cfs_period_us'), String(PERIOD_US));
      fs.writeFileSync(path.join(this.placement.directory, 'cpu.cfs_quota_us'), String(quota));
      this.capped = capped;
    } catch {
      // The cgroup is gone (the stack stopping): nothing to cap.
    }
  }
}
