// Owns what a bug does: an assertion that can only fail through a bug throws
// an InvariantError, and a bug found after an await crashes the process
// rather than leaving a promise rejection somebody might swallow.

export class InvariantError extends Error {
  override name = 'InvariantError';
}

/** Asserts something that can only be false through a bug; never use it for input. */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/**
 * Crashes the process with a bug found after an await. Rethrowing on a fresh
 * macrotask turns it into an uncaught exception, with its stack, instead of
 * a promise rejection somebody might swallow.
 */
export function crashOnBug(error: unknown): void {
  setImmediate(() => {
    throw error;
  });
}
