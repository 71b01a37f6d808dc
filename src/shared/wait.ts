// Owns the one way crebito waits for a condition: check it, pause, check
// again, until it holds or a deadline passes. Every wait has a deadline; none
// spins without a pause.

const sleep = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

export interface WaitOptions {
  timeoutMs: number;
  /** The pause between checks. */
  intervalMs: number;
  /** Stop early, unsatisfied: the thing waited on can no longer happen (a child exited). */
  abandonWhen?: () => boolean;
}

/**
 * Resolves with the milliseconds it took once condition() holds, or with
 * undefined when the deadline passes or abandonWhen() says to stop. A
 * condition that throws ends the wait by throwing.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  options: WaitOptions,
): Promise<number | undefined> {
  const started = performance.now();
  for (;;) {
    if (await condition()) return performance.now() - started;
    if (options.abandonWhen?.() === true) return undefined;
    if (performance.now() - started >= options.timeoutMs) return undefined;
    await sleep(options.intervalMs);
  }
}

/** waitFor, for when giving up is an error: throws with what was awaited. */
export async function waitForOrThrow(
  what: string,
  condition: () => boolean | Promise<boolean>,
  options: WaitOptions,
): Promise<void> {
  if ((await waitFor(condition, options)) === undefined) {
    throw new Error(`${what}: not within ${options.timeoutMs} ms`);
  }
}
