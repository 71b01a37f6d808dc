// vitest globalSetup: one embedded PostgreSQL for the whole test run, in a
// temporary directory, torn down at the end. Each test file creates its own
// database in it (see database.ts), so files run in parallel without sharing
// balances.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createLog } from '../../src/shared/log.js';
import { startEmbeddedPostgres } from '../../src/stack/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    maintenanceUrl: string;
    postgresSocketDirectory: string;
    postgresPort: number;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-test-'));
  // PostgreSQL runs as its own user when we are root; it must reach its dirs.
  fs.chmodSync(root, 0o755);
  const postgres = await startEmbeddedPostgres({
    dataDirectory: path.join(root, 'postgres'),
    socketDirectory: path.join(root, 'socket'),
    port: 54330,
    mode: 'durable',
    log: createLog({ program: 'stack', name: 'test-postgres', level: 'silent' }),
  });
  project.provide('maintenanceUrl', postgres.maintenanceUrl);
  project.provide('postgresSocketDirectory', postgres.socketDirectory);
  project.provide('postgresPort', postgres.port);
  return async () => {
    await postgres.stop();
    fs.rmSync(root, { recursive: true, force: true });
  };
}
