// Folding repeated log lines (src/shared/repeats.ts, src/stack/nginx-error-log.ts):
// the first of a kind is written, the rest counted, and the count told.

import { describe, expect, it } from 'vitest';
import { foldRepeats } from '../../src/shared/repeats.js';
import { foldNginxErrorLog, kindOfNginxLine } from '../../src/stack/nginx-error-log.js';

const LARGE_BODY = (connection: number, bytes: number) =>
  `2026/12/06 02:51:0${connection % 10} [error] 4242#4242: *${connection} client intended to send too large body: ${bytes} bytes, ` +
  `client: 127.0.0.1, server: , request: "POST /clientes/1/transacoes HTTP/1.1", host: "localhost:9999"`;

describe('folding repeated log lines', () => {
  it('writes the first of each kind, counts the others, and reports each count once', () => {
    const written: string[] = [];
    const reports: [string, number][] = [];
    const repeats = foldRepeats((kind, count) => reports.push([kind, count]), 60_000);
    for (let index = 0; index < 500; index++) repeats.note('slow', () => written.push(`slow ${index}`));
    repeats.note('other', () => written.push('other'));
    repeats.flush();
    repeats.note('slow', () => written.push('slow again'));
    repeats.stop();
    expect(written).toEqual(['slow 0', 'other', 'slow again']);
    expect(reports).toEqual([['slow', 499]]);
  });

  it('regression: nginx wrote one error line per refused body; one is written, the rest told as a count', () => {
    expect(kindOfNginxLine(LARGE_BODY(17, 5000))).toBe(kindOfNginxLine(LARGE_BODY(18, 9999)));
    const written: string[] = [];
    const warnings: string[] = [];
    const onStderr = foldNginxErrorLog({ warn: (message: string) => warnings.push(message) } as never, (text) =>
      written.push(text),
    );
    const flood = Array.from({ length: 300 }, (_, index) => `${LARGE_BODY(index, 5000 + index)}\n`).join('');
    // Lines cut anywhere by the pipe are put back together.
    for (let at = 0; at < flood.length; at += 997) onStderr(Buffer.from(flood.slice(at, at + 997)));
    onStderr(Buffer.from('2026/12/06 02:51:09 [alert] 4242#4242: something else\n'));
    expect(written).toEqual([`${LARGE_BODY(0, 5000)}\n`, '2026/12/06 02:51:09 [alert] 4242#4242: something else\n']);
    expect(warnings).toEqual([]);
  });
});
