// Owns how both programs log: one JSON object per line (pino), written
// asynchronously so that logging never waits on the terminal or a pipe, at
// the level CREBITO_LOG_LEVEL sets. Every line names its program and pid;
// the launcher's children add their own name (api-1, nginx, ...). When
// stdout is a terminal, a person reads it: the same lines are written as
// text instead (readableLine), by a destination of our own in front of the
// same asynchronous writer, so pipes and files still get JSON.

import pino from 'pino';

export type Log = pino.Logger;
export type LogLevel = pino.LevelWithSilent;
/** What the launcher's parts log through: a message at a level. */
export type StackLog = Pick<Log, 'info' | 'warn' | 'error'>;

export function createLog(options: { program: 'instance' | 'stack'; name: string; level: LogLevel }): Log {
  // Asynchronous, flushed by pino itself when the process exits.
  const out = pino.destination({ dest: 1, sync: false });
  const terminal = process.stdout.isTTY === true;
  return pino(
    {
      level: options.level,
      base: { program: options.program, name: options.name, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // `err` is the conventional key for an Error; pino then logs its
      // message, stack and code.
      serializers: { err: pino.stdSerializers.err },
    },
    terminal ? readableDestination(out) : out,
  );
}

/** Writes each JSON line pino makes as readableLine's text, through the same writer; flushing flushes it. */
function readableDestination(
  out: ReturnType<typeof pino.destination>,
): pino.DestinationStream & { flush: (done: (error?: Error) => void) => void } {
  return {
    write: (line: string) => out.write(readableLine(line)),
    flush: (done) => out.flush(done),
  };
}

const LEVEL_LABELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
// The fields every line has, shown in its head rather than as key=value.
const HEAD_FIELDS = new Set(['level', 'time', 'pid', 'program', 'name', 'msg', 'err']);

/**
 * One JSON log line as a person reads it at a terminal:
 * `12:01:02.345 INFO  api-1[4242] ready port=9999`, then an error's stack,
 * indented, on the lines below. A line that is not JSON is passed as it is.
 */
export function readableLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = (LEVEL_LABELS[entry.level as number] ?? String(entry.level)).padEnd(5);
  const fields = Object.entries(entry)
    .filter(([key]) => !HEAD_FIELDS.has(key))
    .map(([key, value]) => ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const error = entry.err as { stack?: string; message?: string } | undefined;
  const stack =
    error === undefined
      ? ''
      : `\n    ${(error.stack ?? error.message ?? JSON.stringify(error)).split('\n').join('\n    ')}`;
  return `${time} ${level} ${entry.name}[${entry.pid}] ${entry.msg ?? ''}${fields.join('')}${stack}\n`;
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
