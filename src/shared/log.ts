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
