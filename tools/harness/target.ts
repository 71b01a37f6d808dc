// Which stack a tool (the bench, the ledger checker) runs against, chosen on
// its command line the same way for both: the one `npm start` runs, or with
// --start one of its own in a temporary directory, removed afterwards.
//
//   --start          start a stack of its own
//   --port N         its public port (default: a free one, never 9999)
//   --mode M         its database mode: durable (default) or fast
//   --out DIR        where the tool writes its results (default results/)

import path from 'node:path';
import { readLauncherConfig } from '../../src/stack/config.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { readStackState, type StackState } from '../../src/stack/state.js';
import { freePort, makeDataDirectory, startStack } from './stack.js';

const DATABASE_MODES = ['durable', 'fast'] as const;
const PORT_MAX = 65_535;

/** The target options in node:util parseArgs form, to spread into a tool's own. */
export const TARGET_OPTIONS = {
  start: { type: 'boolean', default: false },
  port: { type: 'string' },
  mode: { type: 'string', default: 'durable' },
  out: { type: 'string', default: path.join(PROJECT_ROOT, 'results') },
} as const;

export interface TargetOptions {
  start: boolean;
  /** Unset: a free one (freePort), never 9999. Only with start. */
  port: number | undefined;
  mode: (typeof DATABASE_MODES)[number];
  out: string;
}

/** A number option within its bounds (whole, if asked); anything else stops the tool, naming the option. */
export function numberOption(
  value: string | undefined,
  name: string,
  rule: { min: number; max: number; whole: boolean },
): number {
  const number = Number(value);
  if (!(number >= rule.min && number <= rule.max) || (rule.whole && !Number.isInteger(number))) {
    throw new Error(
      `--${name} must be ${rule.whole ? 'a whole number' : 'a number'} from ${rule.min} to ${rule.max}, got ${value}`,
    );
  }
  return number;
}

/** The target options out of a tool's parsed arguments, checked. */
export function readTargetOptions(values: {
  start: boolean;
  port?: string | undefined;
  mode: string;
  out: string;
}): TargetOptions {
  const mode = DATABASE_MODES.find((known) => known === values.mode);
  if (mode === undefined) throw new Error(`--mode is ${DATABASE_MODES.join(' or ')}, got ${values.mode}`);
  return {
    start: values.start,
    port:
      values.port === undefined ? undefined : numberOption(values.port, 'port', { min: 1, max: PORT_MAX, whole: true }),
    mode,
    out: values.out,
  };
}

export interface Target {
  /** The stack's data directory: its state file names every process. */
  dataDirectory: string;
  state(): StackState;
  /** The last lines a stack of the tool's own wrote (nginx's errors, the instances): why something failed. */
  outputTail(lines: number): string;
  /** A stack of the tool's own: its launcher's start to its `up` line, in seconds. */
  upSeconds: number | undefined;
}

/** Runs use() against the chosen stack; a stack of its own is stopped and removed afterwards, whatever happens. */
export async function withTarget<T>(options: TargetOptions, use: (target: Target) => Promise<T>): Promise<T> {
  if (!options.start) {
    const { dataDirectory } = readLauncherConfig(process.env);
    return use({
      dataDirectory,
      state: () => readStackState(dataDirectory),
      outputTail: () => '',
      upSeconds: undefined,
    });
  }
  const startedAt = performance.now();
  const stack = await startStack({
    port: options.port ?? (await freePort()),
    dataDirectory: makeDataDirectory(),
    environment: { CREBITO_DATABASE_MODE: options.mode },
  });
  const upSeconds = (performance.now() - startedAt) / 1000;
  try {
    return await use({
      upSeconds,
      dataDirectory: stack.dataDirectory,
      state: () => stack.state(),
      outputTail: (lines) => stack.output().split('\n').slice(-lines).join('\n'),
    });
  } finally {
    await stack.dispose();
  }
}
