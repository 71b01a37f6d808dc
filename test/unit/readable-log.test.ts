// A log line as a person at a terminal reads it (src/shared/log.ts): time,
// level, who, message, then every other field as key=value, and an error's
// stack below. Nothing in the JSON is dropped on the way.

import { describe, expect, it } from 'vitest';
import { readableLine } from '../../src/shared/log.js';

const line = (fields: Record<string, unknown>) =>
  JSON.stringify({
    level: 30,
    time: '2026-12-02T18:40:01.234Z',
    program: 'stack',
    name: 'crebito',
    pid: 4242,
    ...fields,
  });

describe('readable log lines', () => {
  it('puts time, level, name and pid, and the message first, then the other fields', () => {
    expect(readableLine(line({ msg: 'up', port: 9999, admin: ['127.0.0.1:9201'] }))).toBe(
      '18:40:01.234 INFO  crebito[4242] up port=9999 admin=["127.0.0.1:9201"]\n',
    );
  });

  it("names every level, and shows an error's stack on the lines below", () => {
    const text = readableLine(
      line({
        level: 50,
        msg: 'query failed',
        err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' },
      }),
    );
    expect(text).toBe('18:40:01.234 ERROR crebito[4242] query failed\n    Error: boom\n        at f (x.js:1:1)\n');
    expect(readableLine(line({ level: 40, msg: 'slow' }))).toMatch(/ WARN  crebito\[4242\] slow\n$/);
  });

  it('passes a line that is not JSON through as it is', () => {
    expect(readableLine('not json')).toBe('not json\n');
  });
});
