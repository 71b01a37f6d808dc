// Owns the instance's side of the role rule (shared/database-role.ts):
// checked on every new connection (connections live as long as the process,
// so this is off the requests' path), because an instance may start before
// its database answers.

import type { InstanceConfig } from '../config.js';
import { readRoleFacts, roleRefusal, type Queryable } from '../../shared/database-role.js';
import { flushAndExit, type Log } from '../../shared/log.js';

/** A pool's onConnect hook: on a role it refuses, says why in one line and stops the process. */
export function roleGuard(
  options: Pick<InstanceConfig, 'allowSuperuser'> & { log: Log },
): (client: Queryable) => Promise<void> {
  return async (client) => {
    const refusal = roleRefusal(await readRoleFacts(client), options.allowSuperuser);
    if (refusal === undefined) return;
    options.log.fatal(refusal);
    await flushAndExit(options.log, 1);
  };
}
