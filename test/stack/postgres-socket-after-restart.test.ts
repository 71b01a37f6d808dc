// Regression: restarted PostgreSQL, stranded instances. When the data
// directory's path is too long for a unix socket under it, the embedded
// PostgreSQL's socket goes to a directory under the system's temporary folder.
// That directory was a fresh mkdtemp on every start, so after the launcher
// restarted a crashed PostgreSQL it listened somewhere the instances (whose
// environment was fixed when they were spawned) never looked: they answered
// 503 for good, and every such directory was left behind.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/shared/settings.js';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { UNIX_SOCKET_PATH_BYTES_MAX } from '../../src/stack/embedded-postgres.js';
import {
  freePort,
  getFromListenAddress,
  makeDataDirectory,
  startStack,
  type RunningStack,
} from '../../tools/harness/stack.js';

const RECOVERY_TIMEOUT_MS = 30_000;

let stack: RunningStack | undefined;
let parent: string | undefined;

afterAll(async () => {
  await stack?.dispose();
  if (parent !== undefined) fs.rmSync(parent, { recursive: true, force: true });
});

/**
 * A data directory whose PostgreSQL socket path is too long while the
 * instances' sockets (shorter names in the same run directory) still fit.
 */
function dataDirectoryForcingSocketFallback(): string {
  parent = makeDataDirectory();
  // <data>/run/api-1.sock must fit; <data>/run/postgres/.s.PGSQL.<port>,
  // 13 bytes longer, must not: leave the instance's socket 6 bytes to spare.
  const length = UNIX_SOCKET_PATH_BYTES_MAX - '/run/api-1.sock'.length - 6;
  const dataDirectory = path.join(parent, 'x'.repeat(length - parent.length - 1));
  expect(Buffer.byteLength(path.join(dataDirectory, 'run', 'api-1.sock'))).toBeLessThanOrEqual(
    UNIX_SOCKET_PATH_BYTES_MAX,
  );
  expect(
    Buffer.byteLength(path.join(dataDirectory, 'run', 'postgres', `.s.PGSQL.${SETTINGS.embeddedPostgresPort.default}`)),
  ).toBeGreaterThan(UNIX_SOCKET_PATH_BYTES_MAX);
  return dataDirectory;
}

// `postgresql://user@/db?host=…`: no host before the path, so URL cannot parse it.
const socketDirectoryOf = (databaseUrl: string) =>
  new URLSearchParams(databaseUrl.slice(databaseUrl.indexOf('?') + 1)).get('host') ?? '';

async function serves(listen: string): Promise<boolean> {
  return (await getFromListenAddress(listen, '/clientes/1/extrato', 2000))?.status === 200;
}

describe('regression: restarted PostgreSQL, stranded instances', () => {
  it(
    'after a crash of a PostgreSQL whose socket lives outside the data directory, both instances serve again, ' +
      'and stopping leaves no socket directory',
    async () => {
      stack = await startStack({ port: await freePort(), dataDirectory: dataDirectoryForcingSocketFallback() });
      const before = stack.state();
      const socketDirectory = socketDirectoryOf(before.databaseUrl);
      expect(socketDirectory.startsWith(stack.dataDirectory)).toBe(false);
      for (const instance of before.instances) expect(await serves(instance.listen)).toBe(true);

      process.kill(before.postgres!.pid, 'SIGQUIT');
      await waitForOrThrow(
        'the launcher restarting PostgreSQL',
        () => stack!.state().postgres!.pid !== before.postgres!.pid,
        { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: 100 },
      );
      for (const instance of stack.state().instances) {
        await waitForOrThrow(`${instance.name} serving statements again`, () => serves(instance.listen), {
          timeoutMs: RECOVERY_TIMEOUT_MS,
          intervalMs: 200,
        });
      }
      const after = stack.state();
      expect(socketDirectoryOf(after.databaseUrl)).toBe(socketDirectory);

      expect(await stack.stop('SIGTERM')).toBe(0);
      expect(fs.existsSync(socketDirectory)).toBe(false);
    },
  );
});
