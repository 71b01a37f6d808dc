// A stack of the bench's own under the public test's resource limits: each
// part in cgroups with the CPU quota and memory limit docker-compose.yml
// declares for its service (compose-limits.ts, cgroups.ts). Each part joins
// its groups as early as the launcher lets it, without changing the launcher:
//
//   nginx      a wrapper script, given as NGINX_BINARY, joins and then execs
//              nginx; its workers, forked later, inherit the groups.
//   instances  join-cgroup.ts, loaded into each before its own code
//              (CREBITO_INSTANCE_NODE_ARGS=--import=...).
//   postgres   moved, with every process it has, as soon as the stack is
//              up (the embedded server gives no hook to start it inside).
//              Backends forked later are born inside, but what it touched
//              while starting stays charged outside its memory limit.

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { findNginx } from '../../../src/stack/nginx.js';
import type { DatabaseMode } from '../../../src/stack/config.js';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../../harness/stack.js';
import { BenchCgroups, JOIN_CGROUP_ENV, type JoinCgroupPlan } from './cgroups.js';
import { readComposeLimits } from './compose-limits.js';
import { JOIN_CGROUP_ENTRY } from '../paths.js';
import { processTree } from '../process-stats.js';

const POSTGRES = 'postgres';

export interface LimitedStack {
  stack: RunningStack;
  cgroups: BenchCgroups;
  /** Parts that joined their groups only once running: their memory from before is not in their group's count. */
  joinedLate: string[];
  /** Stops the stack and removes the groups; returns groups that could not be removed. */
  dispose(): Promise<string[]>;
}

function writeNginxWrapper(directory: string, procsFiles: string[]): string {
  const nginx = findNginx(process.env);
  if (nginx === undefined)
    throw new Error('the limited run needs nginx (apt-get install nginx), as the public test runs it');
  const wrapper = path.join(directory, 'nginx-in-cgroup.sh');
  const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
  fs.writeFileSync(
    wrapper,
    [
      '#!/bin/sh',
      '# Written by the bench (tools/bench/limits/limited-stack.ts): join the cgroups, then become nginx.',
      ...procsFiles.map((file) => `echo $$ > ${quote(file)} || exit 70`),
      `exec ${quote(nginx)} "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return wrapper;
}

export async function startLimitedStack(options: { mode: DatabaseMode }): Promise<LimitedStack> {
  const cgroups = BenchCgroups.create(readComposeLimits());
  const dataDirectory = makeDataDirectory();
  const instancePlan: JoinCgroupPlan = {};
  for (const group of cgroups.groups) {
    if (group.limits.component !== 'nginx' && group.limits.component !== POSTGRES)
      instancePlan[group.limits.component] = group.procsFiles;
  }
  let stack: RunningStack | undefined;
  try {
    stack = await startStack({
      port: await freePort(),
      dataDirectory,
      environment: {
        CREBITO_DATABASE_MODE: options.mode,
        CREBITO_INSTANCES: String(Object.keys(instancePlan).length),
        NGINX_BINARY: writeNginxWrapper(dataDirectory, cgroups.group('nginx').procsFiles),
        CREBITO_INSTANCE_NODE_ARGS: `--import=${pathToFileURL(JOIN_CGROUP_ENTRY).href}`,
        [JOIN_CGROUP_ENV]: JSON.stringify(instancePlan),
      },
    });
    const state = stack.state();
    if (state.postgres === null)
      throw new Error("unreachable: a stack of the bench's own runs the embedded PostgreSQL");
    for (const pid of processTree(state.postgres.pid)) cgroups.group(POSTGRES).join(pid);
    checkEveryPartIsInside(stack, cgroups);
  } catch (error) {
    await stack?.dispose();
    fs.rmSync(dataDirectory, { recursive: true, force: true });
    cgroups.remove();
    throw error;
  }
  const running = stack;
  return {
    stack: running,
    cgroups,
    joinedLate: [POSTGRES],
    async dispose() {
      await running.dispose();
      return cgroups.remove();
    },
  };
}

/** Every process of every part is in its part's groups: a part measured unlimited must not pass for limited. */
function checkEveryPartIsInside(stack: RunningStack, cgroups: BenchCgroups): void {
  const state = stack.state();
  const roots: [string, number | undefined][] = [
    ['nginx', state.nginx?.pid],
    ...state.instances.map((instance): [string, number | undefined] => [instance.name, instance.pid]),
    [POSTGRES, state.postgres?.pid],
  ];
  for (const [component, rootPid] of roots) {
    if (rootPid === undefined) throw new Error(`the limited stack has no ${component} running`);
    const outside = processTree(rootPid).filter((pid) => !cgroups.group(component).holds(pid));
    if (outside.length > 0) throw new Error(`${component}: processes ${outside.join(', ')} are not in its cgroups`);
  }
}
