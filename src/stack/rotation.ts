// Owns which instances nginx sends new requests to. nginx alone learns that
// an instance froze only from a request that timed out there (the deadline
// and a margin, 1.25 s by default), and meanwhile keeps sending it every
// other request. The launcher's liveness probe notices sooner (liveness.ts);
// an instance that missed its probe deadline is marked `down` in nginx's
// configuration and nginx reloads it (SIGHUP: new workers take new requests,
// old ones finish theirs and exit), and it is put back the same way once it
// answers again. Reloads are bounded (RELOAD_GAP_MS_MIN apart at least:
// changes asked for meanwhile go out together in the next), so a flapping
// instance cannot make nginx fork workers without end; and the last instance
// in rotation is never taken out.

import type { StackLog } from '../shared/log.js';

// At most two reloads a second: each forks nginx's workers anew, and the old
// ones live on until their last request is answered (the deadline at most).
export const RELOAD_GAP_MS_MIN = 500;

export interface RotationOptions {
  /** Every instance's name, in the order of the upstream's servers. */
  names: readonly string[];
  /** Writes nginx's configuration with these instances (by index) marked down and reloads it, when it runs (a start reads forNginxStart()). */
  reload: (outOfRotation: readonly number[]) => void;
  /** After every change of the set: record it (state.json). */
  onChanged: () => void;
  log: StackLog;
}

export class Rotation {
  private readonly out = new Set<number>();
  /** The set nginx last reloaded with (or will start with). */
  private applied: readonly number[] = [];
  private lastReloadAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: RotationOptions) {}

  /** The instances (by index) nginx is told not to send to, in order. */
  outOfRotation(): number[] {
    return [...this.out].sort((a, b) => a - b);
  }

  /** The set an nginx that is starting renders its configuration with: from now on, what it has. */
  forNginxStart(): number[] {
    this.applied = this.outOfRotation();
    return [...this.applied];
  }

  inRotation(index: number): boolean {
    return !this.out.has(index);
  }

  /** Takes an instance out, unless it is the last one in; says whether it is out now. */
  takeOut(index: number, why: string): boolean {
    if (this.out.has(index)) return true;
    if (this.out.size + 1 >= this.options.names.length) return false;
    this.out.add(index);
    this.options.log.warn(`${this.options.names[index]} ${why}: out of nginx's rotation until it answers again`);
    this.changed();
    return true;
  }

  putBack(index: number): void {
    if (!this.out.delete(index)) return;
    this.options.log.info(`${this.options.names[index]} answers /health again: back in nginx's rotation`);
    this.changed();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private changed(): void {
    this.options.onChanged();
    if (this.timer !== undefined || this.stopped) return;
    const waitMs = Math.max(0, this.lastReloadAt + RELOAD_GAP_MS_MIN - performance.now());
    if (waitMs === 0) {
      this.reloadNow();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reloadNow();
    }, waitMs);
    this.timer.unref();
  }

  private reloadNow(): void {
    if (this.stopped) return;
    const wanted = this.outOfRotation();
    // Taken out and put back within one gap: nginx already has this set.
    if (wanted.join() === this.applied.join()) return;
    this.lastReloadAt = performance.now();
    this.applied = wanted;
    this.options.reload(wanted);
  }
}
