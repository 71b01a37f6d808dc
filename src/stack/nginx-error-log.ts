// Owns nginx's error log (its stderr, piped through the launcher): written on
// as nginx writes it, except that a line of a kind already written in the
// interval (nginx writes one per refused body, say: hundreds a second under
// a flood) is counted instead, and one warning at the interval's end says
// how many there were (shared/repeats.ts). The kind is the line without what
// varies: its time, process and connection numbers, figures, and the client
// and request it names.

import type { StackLog } from '../shared/log.js';
import { foldRepeats } from '../shared/repeats.js';

/** Longest partial line kept while waiting for its end; nginx's lines are far shorter. */
const PARTIAL_LINE_CHARS_MAX = 16_384;

/** A line's kind: `[error] client intended to send too large body: # bytes` for any such line. */
export function kindOfNginxLine(line: string): string {
  return line
    .replace(/^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2} /, '')
    .replace(/ \d+#\d+: (\*\d+ )?/, ' ')
    .replace(/, client: .*$/, '')
    .replace(/\d+/g, '#');
}

/** What to give nginx's stderr: writes lines to the launcher's stderr, folding repeats. */
export function foldNginxErrorLog(
  log: StackLog,
  write: (text: string) => void = (text) => process.stderr.write(text),
): (chunk: Buffer) => void {
  const repeats = foldRepeats((kind, count, intervalMs) =>
    log.warn(`nginx wrote ${count} more lines like "${kind}" in ${intervalMs / 1000} s`),
  );
  let partial = '';
  return (chunk) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop()!.slice(-PARTIAL_LINE_CHARS_MAX);
    for (const line of lines) if (line !== '') repeats.note(kindOfNginxLine(line), () => write(`${line}\n`));
  };
}
