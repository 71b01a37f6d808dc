// Owns how both programs log: one JSON object per line (pino), written
// asynchronously so that logging never waits on the terminal or a pipe, at
// the level CREBITO_LOG_LEVEL sets. Every line names its program and pid;
// the launcher's children add their own name (api-1, nginx, ...).

import pino from 'pino';

export type Log = pino.Logger;
export type LogLevel = pino.LevelWithSilent;
/** What the launcher's parts log through: a message at a level. */
export type StackLog = Pick<Log, 'info' | 'warn' | 'error'>;

export function createLog(options: { program: 'instance' | 'stack'; name: string; level: LogLevel }): Log {
  return pino(
    {
      level: options.level,
      base: { program: options.program, name: options.name, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // `err` is the conventional key for an Error; pino then logs its
      // message, stack and code.
      serializers: { err: pino.stdSerializers.err },
    },
    // Asynchronous, flushed by pino itself when the process exits.
    pino.destination({ dest: 1, sync: false }),
  );
}

// Long enough for a pipe's reader to take what is left, short enough that a
// stopping process is never held by its logs.
const FLUSH_ON_EXIT_MS_MAX = 1000;

/**
 * Writes out what is buffered, then exits. Waiting for the asynchronous
 * flush matters when stdout's reader is gone (the launcher was killed): the
 * write then fails with EPIPE and pino stops logging, whereas exiting with the
 * write still pending made pino's synchronous flush at exit retry the broken
 * pipe forever (sonic-boom 4), and the process never ended.
 */
export async function flushAndExit(log: Log, code: number): Promise<never> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, FLUSH_ON_EXIT_MS_MAX);
    log.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  process.exit(code);
}
