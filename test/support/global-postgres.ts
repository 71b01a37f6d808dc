// vitest globalSetup: one embedded PostgreSQL for the whole test run, in a
// temporary directory, torn down at the end. Each test file creates its own
// database in it (see database.ts), so files run in parallel without sharing
// balances. Every project that needs a database (database, instance, stack)
// names this file, and vitest runs it once per project; the projects share
// one server (kept on globalThis, which the main process shares between
// them), because three servers would cost three starts and their memory.
// The unit project does not name it, so `npm run test:unit` starts none.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createLog } from '../../src/shared/log.js';
import { createCluster, startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/stack/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    maintenanceUrl: string;
    postgresSocketDirectory: string;
    postgresPort: number;
    /** A cluster made once by the launcher's initdb, for stacks that copy it (lean-stack.ts). */
    clusterTemplate: string;
  }
}

type TestPostgres = EmbeddedPostgres & { root: string; clusterTemplate: string };

interface SharedPostgres {
  started: Promise<TestPostgres>;
  users: number;
}

const SHARED_KEY = Symbol.for('crebito.test.postgres');
const registry = globalThis as unknown as { [SHARED_KEY]?: SharedPostgres };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (registry[SHARED_KEY] ??= { started: startPostgres(), users: 0 });
  shared.users++;
  const postgres = await shared.started;
  project.provide('maintenanceUrl', postgres.maintenanceUrl);
  project.provide('postgresSocketDirectory', postgres.socketDirectory);
  project.provide('postgresPort', postgres.port);
  project.provide('clusterTemplate', postgres.clusterTemplate);
  return async () => {
    shared.users--;
    if (shared.users > 0) return;
    delete registry[SHARED_KEY];
    await postgres.stop();
    fs.rmSync(postgres.root, { recursive: true, force: true });
  };
}

async function startPostgres(): Promise<TestPostgres> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-test-'));
  // PostgreSQL runs as its own user when we are root; it must reach its dirs.
  fs.chmodSync(root, 0o755);
  const log = createLog({ program: 'stack', name: 'test-postgres', level: 'silent' });
  const postgres = await startEmbeddedPostgres({
    dataDirectory: path.join(root, 'postgres'),
    socketDirectory: path.join(root, 'socket'),
    port: 54330,
    mode: 'durable',
    log,
  });
  const clusterTemplate = path.join(root, 'cluster-template');
  createCluster(clusterTemplate, log);
  return Object.assign(postgres, { root, clusterTemplate });
}
