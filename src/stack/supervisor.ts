// Owns one long-running child process of the launcher (an API instance or
// nginx): starting it, knowing when it is ready, restarting it when it dies on
// its own (with a growing pause, so a crash loop does not spin), and stopping
// it with a signal and a deadline.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const RESTART_DELAY_MS_MIN = 100;
const RESTART_DELAY_MS_MAX = 5000;
// A child that stayed up this long is considered healthy again.
const HEALTHY_UPTIME_MS = 30_000;

export interface SupervisedOptions {
  name: string;
  command: string;
  args: string[];
  spawnOptions: SpawnOptions;
  /** Resolves when the freshly spawned child is serving. */
  waitUntilReady: (child: ChildProcess) => Promise<void>;
  readyTimeoutMs: number;
  stopSignal: NodeJS.Signals;
  stopTimeoutMs: number;
  log: (line: string) => void;
  /** Called after every (re)start, so the launcher can record the new pid. */
  onStarted: () => void;
}

export class Supervised {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restartDelayMs = RESTART_DELAY_MS_MIN;
  private restartTimer: NodeJS.Timeout | undefined;
  restarts = 0;

  constructor(private readonly options: SupervisedOptions) {}

  get name(): string {
    return this.options.name;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the child and waits until it is ready; throws if it dies or times out first. */
  async start(): Promise<void> {
    const child = spawn(this.options.command, this.options.args, this.options.spawnOptions);
    this.child = child;
    const startedAt = Date.now();
    const exitedEarly = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`${this.name} exited while starting (${code ?? signal})`)));
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} was not ready within ${this.options.readyTimeoutMs} ms`)), this.options.readyTimeoutMs);
    });
    try {
      await Promise.race([this.options.waitUntilReady(child), exitedEarly, timedOut]);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    } finally {
      clearTimeout(timer);
      exitedEarly.catch(() => undefined);
    }
    child.once('exit', (code, signal) => this.onUnexpectedExit(child, code, signal, Date.now() - startedAt));
    this.options.onStarted();
  }

  private onUnexpectedExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, uptimeMs: number): void {
    if (this.stopping || this.child !== child) return;
    this.child = undefined;
    if (uptimeMs > HEALTHY_UPTIME_MS) this.restartDelayMs = RESTART_DELAY_MS_MIN;
    this.options.log(`${this.name} exited unexpectedly (${code ?? signal})`);
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopping) return;
    this.options.log(`restarting ${this.name} in ${this.restartDelayMs} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restarts++;
      this.start().catch((error: Error) => {
        this.options.log(`${this.name} failed to restart: ${error.message}`);
        this.child = undefined;
        this.scheduleRestart();
      });
    }, this.restartDelayMs);
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, RESTART_DELAY_MS_MAX);
  }

  /** Sends the stop signal, waits up to the deadline, then SIGKILLs. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(this.options.stopSignal);
    const timer = setTimeout(() => {
      this.options.log(`${this.name} did not stop within ${this.options.stopTimeoutMs} ms; killing it`);
      child.kill('SIGKILL');
    }, this.options.stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  }
}
