// Owns the connection classes: the pooled connections an instance's calls
// may hold at once, shared by every operation of a class. Writes
// (CREBITO_WRITES_IN_FLIGHT_MAX) and reads (CREBITO_READS_IN_FLIGHT_MAX) each
// have their own, so a slow read never holds up a transaction; a new read
// operation shares the reads' slots instead of costing a connection of its
// own. The pool holds both classes plus the key expiry's connection
// (shared/limits.ts, RESERVED_CONNECTIONS), which settings.ts checks.

import { invariant } from '../../shared/invariant.js';

export type ConnectionClassName = 'writes' | 'reads';

export class ConnectionClass {
  private taken = 0;
  /** Each batcher of the class, told when a slot comes free. */
  private readonly waiters: (() => void)[] = [];
  /** Rotates who is told first, so no operation of the class starves the others. */
  private next = 0;

  constructor(
    readonly name: string,
    readonly size: number,
  ) {
    invariant(Number.isInteger(size) && size >= 1, `the ${name} connection class needs a slot at least`);
  }

  get inFlight(): number {
    return this.taken;
  }

  /** Takes a slot if one is free. */
  tryTake(): boolean {
    if (this.taken >= this.size) return false;
    this.taken++;
    return true;
  }

  /** Gives a slot back, and lets each batcher of the class in turn take what is free. */
  release(): void {
    this.taken--;
    invariant(this.taken >= 0, `the ${this.name} connection class was given back more slots than it lent`);
    const count = this.waiters.length;
    this.next = (this.next + 1) % Math.max(1, count);
    for (let turn = 0; turn < count && this.taken < this.size; turn++) this.waiters[(this.next + turn) % count]!();
  }

  onRelease(wake: () => void): void {
    this.waiters.push(wake);
  }
}
