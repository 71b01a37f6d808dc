// Owns keeping one child of the launcher running, whatever it is (an API
// instance, nginx, the embedded PostgreSQL): each is started by a function
// that resolves once it serves. When it dies on its own it is started again,
// after a pause that doubles so a crash loop does not spin. A crash loop ends:
// after CRASHES_IN_A_ROW_MAX crashes in a row, each within HEALTHY_UPTIME_MS of
// a start (a restart that fails counts), the supervisor stops restarting and
// says so, and the launcher stops the whole stack with a non-zero exit. A
// child that dies straight after every start will not heal by being started
// again (a bad setting, a full disk, a bug on a path every start takes), and a
// banking service that runs on at part strength, or keeps hitting the same
// broken invariant, hides that behind a log line; an exit is seen by whoever
// runs the launcher (docs/operating.md, The stack's processes).

import type { StackLog } from '../shared/log.js';
import type { Child } from './child.js';

const RESTART_DELAY_MS_MIN = 100;
const RESTART_DELAY_MS_MAX = 5000;
// A child that stayed up this long is healthy again: its crashes so far are forgiven.
const HEALTHY_UPTIME_MS = 30_000;
export const CRASHES_IN_A_ROW_MAX = 5;

export interface SupervisedOptions<C extends Child> {
  name: string;
  /** Starts a fresh child and resolves once it serves; rejects, leaving nothing running, if it cannot. */
  start: () => Promise<C>;
  log: StackLog;
  /** Called after every (re)start, so the launcher can record the new process. */
  onStarted: () => void;
  /** Called once, when the child crash-loops; it is not restarted again. */
  onGaveUp: (reason: string) => void;
}

export class Supervised<C extends Child = Child> {
  private current: C | undefined;
  private last: C | undefined;
  private starting: Promise<void> | undefined;
  private stopping = false;
  private restartDelayMs = RESTART_DELAY_MS_MIN;
  private restartTimer: NodeJS.Timeout | undefined;
  private crashesInARow = 0;
  restarts = 0;

  constructor(private readonly options: SupervisedOptions<C>) {}

  get name(): string {
    return this.options.name;
  }

  /** The child now running, or undefined while it is down or being restarted. */
  get running(): C | undefined {
    return this.current;
  }

  /** The child started last, running or not. */
  get latest(): C | undefined {
    return this.last;
  }

  /** Starts the child and waits until it serves; throws if it cannot, or if the supervisor was stopped. */
  async start(): Promise<void> {
    if (this.stopping) throw new Error(`${this.name} not started: stopping`);
    this.starting = this.startOnce();
    try {
      await this.starting;
    } finally {
      this.starting = undefined;
    }
  }

  private async startOnce(): Promise<void> {
    const child = await this.options.start();
    const startedAt = performance.now();
    this.current = child;
    this.last = child;
    void child.exited.then((how) => this.onExit(child, how, performance.now() - startedAt));
    this.options.onStarted();
  }

  private onExit(child: C, how: string, uptimeMs: number): void {
    if (this.stopping || this.current !== child) return;
    this.current = undefined;
    this.options.log.warn(`${this.name} exited unexpectedly (${how}) after ${Math.round(uptimeMs)} ms`);
    this.crashed(uptimeMs >= HEALTHY_UPTIME_MS);
  }

  private crashed(afterHealthyRun: boolean): void {
    if (afterHealthyRun) {
      this.crashesInARow = 0;
      this.restartDelayMs = RESTART_DELAY_MS_MIN;
    }
    this.crashesInARow++;
    if (this.crashesInARow >= CRASHES_IN_A_ROW_MAX) {
      this.options.onGaveUp(
        `${this.name} crashed ${this.crashesInARow} times in a row, each within ${HEALTHY_UPTIME_MS / 1000} s of starting; giving up`,
      );
      return;
    }
    this.options.log.warn(`restarting ${this.name} in ${this.restartDelayMs} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restarts++;
      this.start().catch((error: Error) => {
        if (this.stopping) return;
        this.options.log.error(`${this.name} failed to restart: ${error.message}`);
        this.crashed(false);
      });
    }, this.restartDelayMs);
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, RESTART_DELAY_MS_MAX);
  }

  /** Stops restarting, lets a start in progress finish, and stops the child (its own signal and deadline). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    await this.starting?.catch(() => undefined);
    await this.current?.stop();
  }
}
