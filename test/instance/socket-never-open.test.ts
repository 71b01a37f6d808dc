// Regression: an instance made its unix socket 0666 as soon as it listened,
// so that nginx's workers (another user) could connect. The launcher only
// handed the socket to nginx's user (0600) once the instance was warm and
// ready, seconds later: in between, any local user who knew the path could
// reach the API past nginx's rate limit and header rules. The instance now
// leaves the socket as its umask made it; the launcher alone widens access,
// and only to nginx's user.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

// The launcher's own umask (src/stack/run-access.ts): owner only.
const LAUNCHER_UMASK = 0o077;

let database: TestDatabase | undefined;
let instance: RunningInstance | undefined;
let directory: string | undefined;

afterAll(async () => {
  await instance?.stop();
  await database?.close();
  if (directory !== undefined) fs.rmSync(directory, { recursive: true, force: true });
});

describe('an instance listening on a unix socket', () => {
  it('regression: its socket was open to every local user from listen until the launcher restricted it', async () => {
    database = await createTestDatabase();
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-socket-'));
    const socket = path.join(directory, 'api.sock');
    // The child inherits the umask at spawn; put the worker's back at once after.
    const previous = process.umask(LAUNCHER_UMASK);
    try {
      instance = await startInstance({ databaseUrl: database.url, environment: { CREBITO_LISTEN: `unix:${socket}` } });
    } finally {
      process.umask(previous);
    }
    // Ready is sent after listen: had the instance widened the socket, it would show now.
    expect(fs.statSync(socket).isSocket()).toBe(true);
    expect(fs.statSync(socket).mode & 0o077).toBe(0);
  });
});
