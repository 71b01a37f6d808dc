// Owns the hard CPU cap on the stream's cgroup (CREBITO_EVENTS_CPU_CAP,
// docs/events.md "Cost"). A small cpu.shares is not enough at saturation:
// the ledger's processes block often (on commits, sockets, locks), and each
// time they do the stream runs in the gap, about a quarter of the machine in
// all. A cap (cpu.cfs_quota_us) holds the stream to a share of one core, so
// during a burst its work waits in the slot and runs after. Bounded: while
// the slot's confirmed position is more than LIFT_BYTES of WAL behind, or
// its lag cannot be read, the cap is lifted (the stream keeps only its
// small weight), and it comes back once the stream is within RESTORE_BYTES.

import fs from 'node:fs';
import path from 'node:path';
import type { Placement } from './cpu.js';

const PERIOD_US = 20_000;
const CHECK_INTERVAL_MS = 1000;
const HEALTH_TIMEOUT_MS = 500;
/** About 20 s of the WAL a saturated ledger writes (1.7 MB/s measured): the most the cap may hold back. */
export const LIFT_BYTES = 32 * 2 ** 20;
const RESTORE_BYTES = 16 * 2 ** 20;

/** The slot's WAL behind, from the publisher's /health; undefined when it cannot be read. */
async function behindBytes(admin: string | null): Promise<number | undefined> {
  if (admin === null) return undefined;
  try {
    const response = await fetch(`http://${admin}/health`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    const body = (await response.json()) as { behind?: { bytes?: unknown } };
    return typeof body.behind?.bytes === 'number' ? body.behind.bytes : undefined;
  } catch {
    return undefined;
  }
}

/** Capped or lifted, from how far behind the stream is: the rule, apart from its effects. */
export function shouldCap(capped: boolean, behind: number | undefined): boolean {
  if (behind === undefined || behind > LIFT_BYTES) return false;
  return capped || behind < RESTORE_BYTES;
}

export class StreamCpuCap {
  private timer: NodeJS.Timeout | undefined;
  private capped = false;

  /** percent: of one core; 0, or a placement that is not a cgroup, and there is no cap. */
  constructor(
    private readonly placement: Placement,
    private readonly percent: number,
    private readonly admin: () => string | null,
  ) {}

  start(): void {
    if (this.placement.kind !== 'cgroup' || this.percent === 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.check(), CHECK_INTERVAL_MS);
    this.timer.unref();
    void this.check();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    const capped = shouldCap(this.capped, await behindBytes(this.admin()));
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
