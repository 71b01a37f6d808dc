// Owns which instances nginx sends new requests to. nginx alone learns that
// an instance froze only from a request that timed out there (the deadline
// and a margin, 1.25 s by default), and meanwhile keeps sending it every
// other request. The launcher's liveness probe notices sooner (liveness.ts):
// an instance that missed its probe deadline is taken out of rotation, and
// put back once it answers again.
//
// Out of rotation is a marker file nginx tests on every request (nginx.ts),
// not a reload: a reload (SIGHUP) makes the old workers close every idle
// client connection at once, and a client sending on one just then sees its
// request fail: 17 of 2,845 and 44 of 3,195 requests did, over 16 and 17
// reloads (16 keepalive clients; the marker toggled as often failed 0 of
// 3,919), and a frozen instance takes two. Creating or removing a file
// costs nginx nothing to pick up, so there is no storm to bound: at most one
// change per probe (four a second per instance). One instance is out at a
// time, so the last one in is never taken out.

import fs from 'node:fs';
import type { StackLog } from '../shared/log.js';

export interface RotationOptions {
  /** Every instance's name, in the order of the upstream's servers. */
  names: readonly string[];
  /** The marker file of instance number index; undefined without nginx (the instances share one port: no rotation). */
  markerOf: ((index: number) => string) | undefined;
  /** After every change: record it (state.json). */
  onChanged: () => void;
  log: StackLog;
}

export class Rotation {
  /** The one instance (by index) out of rotation, if any. */
  private out: number | undefined;

  constructor(private readonly options: RotationOptions) {
    // A launcher killed with an instance out left its marker: every instance starts in.
    for (const [index] of options.names.entries()) this.removeMarker(index);
  }

  inRotation(index: number): boolean {
    return this.out !== index;
  }

  /** Takes an instance out, unless another one is out already (then nginx's own timeouts route around this one). */
  takeOut(index: number, why: string): void {
    const markerOf = this.options.markerOf;
    if (this.out !== undefined || markerOf === undefined || this.options.names.length < 2) return;
    this.out = index;
    fs.writeFileSync(markerOf(index), `${this.options.names[index]} ${why}\n`);
    this.options.log.warn(`${this.options.names[index]} ${why}: out of nginx's rotation until it answers again`);
    this.options.onChanged();
  }

  putBack(index: number): void {
    if (this.out !== index) return;
    this.out = undefined;
    this.removeMarker(index);
    this.options.log.info(`${this.options.names[index]} answers /health again: back in nginx's rotation`);
    this.options.onChanged();
  }

  private removeMarker(index: number): void {
    if (this.options.markerOf !== undefined) fs.rmSync(this.options.markerOf(index), { force: true });
  }
}
