// The bench's and the checker's shared command line: --start/--port/--mode/--out
// and their number options are checked, and misuse stops the tool naming the option.

import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { numberOption, readTargetOptions, TARGET_OPTIONS } from '../../tools/harness/target.js';

const parse = (args: string[]) => readTargetOptions(parseArgs({ args, options: TARGET_OPTIONS }).values);

describe('tool target options', () => {
  it("defaults to npm start's stack, durable, results/", () => {
    const options = parse([]);
    expect(options).toMatchObject({ start: false, port: undefined, mode: 'durable' });
    expect(options.out).toMatch(/results$/);
  });

  it('reads a stack of its own with a port, a mode and a folder', () => {
    expect(parse(['--start', '--port', '9123', '--mode', 'fast', '--out', '/tmp/x'])).toEqual({
      start: true,
      port: 9123,
      mode: 'fast',
      out: '/tmp/x',
    });
  });

  it('refuses an unknown mode and a port that is not one', () => {
    expect(() => parse(['--mode', 'quick'])).toThrow(/--mode is durable or fast, got quick/);
    expect(() => parse(['--port', '70000'])).toThrow(/--port must be a whole number from 1 to 65535/);
    expect(() => parse(['--port', 'nine'])).toThrow(/--port/);
  });

  it('checks number options against their bounds, and wholeness when asked', () => {
    expect(numberOption('2.5', 'duration', { min: 1, max: 600, whole: false })).toBe(2.5);
    expect(() => numberOption('2.5', 'rounds', { min: 1, max: 20, whole: true })).toThrow(
      /--rounds must be a whole number from 1 to 20, got 2.5/,
    );
    expect(() => numberOption('0', 'duration', { min: 1, max: 600, whole: false })).toThrow(
      /--duration must be a number from 1 to 600/,
    );
    expect(() => numberOption(undefined, 'clients', { min: 1, max: 1000, whole: true })).toThrow(/--clients/);
  });
});
