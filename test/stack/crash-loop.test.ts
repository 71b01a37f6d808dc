// Regression: restarts never gave up. A child that dies again as soon as it is
// started will not heal by being started again; the launcher restarted it
// forever, and the stack served at part strength with nothing but a log line
// repeating. Now a crash loop stops the whole stack, in order, with a clear
// line and a non-zero exit, for whatever runs the launcher to see.

import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseListenTarget } from '../../src/shared/listen.js';
import { waitFor } from '../../src/shared/wait.js';
import { isProcessAlive } from '../../src/stack/processes.js';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../../tools/harness/stack.js';
import { LEAN_STACK } from '../support/lean-stack.js';

const GIVE_UP_TIMEOUT_MS = 45_000;

let stack: RunningStack | undefined;

afterAll(async () => {
  await stack?.dispose();
});

describe('regression: restarts never gave up', () => {
  it('an instance that cannot start again (its listen address is taken) stops the stack with exit 1 and says why', async () => {
    stack = await startStack({ port: await freePort(), dataDirectory: makeDataDirectory(), environment: LEAN_STACK });
    const state = stack.state();
    const victim = state.instances[0]!;
    const target = parseListenTarget(victim.listen);
    if (target.kind !== 'unix') throw new Error(`expected a unix socket, got ${victim.listen}`);
    // Something else takes the instance's socket path: every restart of it
    // fails to listen there and exits at once.
    fs.rmSync(target.path);
    fs.mkdirSync(target.path);
    process.kill(victim.pid!, 'SIGKILL');

    const waitedMs = await waitFor(() => stack!.child.exitCode !== null, {
      timeoutMs: GIVE_UP_TIMEOUT_MS,
      intervalMs: 100,
    });
    expect(waitedMs, `the launcher was still restarting ${victim.name}:\n${stack.output()}`).toBeDefined();
    expect(stack.child.exitCode).toBe(1);
    expect(stack.output()).toMatch(new RegExp(`${victim.name} crashed \\d+ times in a row.*giving up`));
    const others = [state.nginx?.pid, ...state.instances.slice(1).map((instance) => instance.pid), state.postgres?.pid];
    for (const pid of others) expect(isProcessAlive(pid!)).toBe(false);
  });
});
