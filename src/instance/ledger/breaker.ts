// Owns the circuit breaker between an instance and its database. Closed, it
// lets calls through and counts consecutive failures (a call that failed as
// unavailable, or missed its deadline). At failuresMax it opens: callers are
// answered at once without touching the database, and a probe (one trivial
// query, bounded in time) runs at a growing interval until one succeeds,
// which closes it again. Readiness reads from here too: the database is
// ready when a call or a probe succeeded within readyForMs, or when a probe
// made now succeeds.

export type BreakerState = 'closed' | 'open';

export interface BreakerOptions {
  failuresMax: number;
  /** The first pause between probes while open; it doubles up to probeIntervalMsMax. */
  probeIntervalMsMin: number;
  probeIntervalMsMax: number;
  /** How long a success vouches for readiness without another probe. */
  readyForMs: number;
  /** One trivial query, bounded in time; resolves true when the database answered. */
  probe: () => Promise<boolean>;
  onOpen: () => void;
  onClose: () => void;
}

export class Breaker {
  state: BreakerState = 'closed';
  consecutiveFailures = 0;
  opened = 0;
  private lastSuccessMs = Number.NEGATIVE_INFINITY;
  /** The pause before the next probe while open. */
  probeIntervalMs: number;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing: Promise<boolean> | undefined;
  private stopped = false;

  constructor(private readonly options: BreakerOptions) {
    if (!(
      options.failuresMax >= 1 &&
      options.probeIntervalMsMin >= 1 &&
      options.probeIntervalMsMax >= options.probeIntervalMsMin
    )) {
      throw new Error('a breaker needs failuresMax >= 1 and 1 <= probeIntervalMsMin <= probeIntervalMsMax');
    }
    this.probeIntervalMs = options.probeIntervalMsMin;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  succeeded(): void {
    this.consecutiveFailures = 0;
    this.lastSuccessMs = performance.now();
  }

  failed(): void {
    this.consecutiveFailures++;
    if (this.state === 'closed' && this.consecutiveFailures >= this.options.failuresMax) this.open();
  }

  /** Whether the database answered recently enough; probes (once at a time) when unsure. */
  async isReady(): Promise<boolean> {
    if (this.isOpen) return false;
    if (performance.now() - this.lastSuccessMs <= this.options.readyForMs) return true;
    return this.probeOnce();
  }

  /** Stops probing for good (the instance is stopping). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.probeTimer);
  }

  private open(): void {
    this.state = 'open';
    this.opened++;
    this.probeIntervalMs = this.options.probeIntervalMsMin;
    this.options.onOpen();
    this.scheduleProbe();
  }

  private close(): void {
    this.state = 'closed';
    this.consecutiveFailures = 0;
    this.options.onClose();
  }

  private scheduleProbe(): void {
    if (this.stopped) return;
    this.probeTimer = setTimeout(() => {
      void this.probeOnce().then((answered) => {
        if (answered) {
          if (this.isOpen) this.close();
          return;
        }
        this.probeIntervalMs = Math.min(this.probeIntervalMs * 2, this.options.probeIntervalMsMax);
        this.scheduleProbe();
      });
    }, this.probeIntervalMs);
  }

  private probeOnce(): Promise<boolean> {
    this.probing ??= this.options.probe().then((answered) => {
      this.probing = undefined;
      if (answered) this.lastSuccessMs = performance.now();
      return answered;
    });
    return this.probing;
  }
}
