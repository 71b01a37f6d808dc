// Loaded by each API instance of the bench's resource-limited stack before
// its own code (node --import, through CREBITO_INSTANCE_NODE_ARGS): the
// instance moves itself into its cgroups first, so what it allocates from
// then on is charged to its own memory limit. (A move later would leave its
// memory charged elsewhere: cgroups.ts.) Which groups, by instance name,
// the bench passes in JOIN_CGROUP_ENV.

import fs from 'node:fs';
import { JOIN_CGROUP_ENV, type JoinCgroupPlan } from './cgroups.js';
import { readSettings } from '../../../src/shared/settings.js';

const { benchCgroups, instanceName: name } = readSettings(process.env, ['benchCgroups', 'instanceName']);
const plan = JSON.parse(benchCgroups ?? 'null') as JoinCgroupPlan | null;
const files = plan?.[name];
// Started with this preload but no plan for it: measuring it unlimited and calling it limited would be a lie.
if (files === undefined)
  throw new Error(`join-cgroup: no cgroups for instance ${JSON.stringify(name)} in ${JOIN_CGROUP_ENV}`);
for (const file of files) fs.writeFileSync(file, String(process.pid));
