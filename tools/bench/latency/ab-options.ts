// The options both A/B tools take (latency/ab.ts: warm stacks side by side;
// just-up-ab.ts: a fresh stack per turn): which environment each side gets,
// the mode, the rounds and each turn's duration, where the files go.

import { parseArgs } from 'node:util';
import { numberOption } from '../../harness/target.js';

export interface AbOptions {
  label: string;
  mode: 'durable' | 'fast';
  rounds: number;
  durationSeconds: number;
  out: string;
  environments: { a: Record<string, string>; b: Record<string, string> };
}

/** NAME=value[,NAME=value] as an environment. */
export function environmentOf(text: string | undefined): Record<string, string> {
  const pairs = (text ?? '')
    .split(',')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '');
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`an environment is NAME=value[,NAME=value], got ${pair}`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

/** The command line's A/B options, with the tool's own defaults and any extra string options it reads itself. */
export function readAbOptions(
  defaults: { durationSeconds: number; out: string },
  extra: Record<string, { type: 'string'; default: string }> = {},
): { options: AbOptions; extra: Record<string, string | undefined> } {
  const { values } = parseArgs({
    options: {
      label: { type: 'string' },
      mode: { type: 'string', default: 'durable' },
      a: { type: 'string' },
      b: { type: 'string' },
      rounds: { type: 'string', default: '4' },
      duration: { type: 'string', default: String(defaults.durationSeconds) },
      out: { type: 'string', default: defaults.out },
      ...extra,
    },
  });
  const read = values as Record<string, string | undefined>;
  const label = read.label;
  if (label === undefined || !/^[a-z0-9-]+$/.test(label))
    throw new Error('--label is required: lower-case letters, digits and dashes');
  if (read.mode !== 'durable' && read.mode !== 'fast') throw new Error(`--mode is durable or fast, got ${read.mode}`);
  const options: AbOptions = {
    label,
    mode: read.mode,
    rounds: numberOption(read.rounds, 'rounds', { min: 1, max: 50, whole: true }),
    durationSeconds: numberOption(read.duration, 'duration', { min: 1, max: 600, whole: true }),
    out: read.out!,
    environments: { a: environmentOf(read.a), b: environmentOf(read.b) },
  };
  return { options, extra: Object.fromEntries(Object.keys(extra).map((name) => [name, read[name]])) };
}
