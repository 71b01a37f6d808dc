// The race table against two real instances sharing one database, with no
// proxy in between: requests alternate between the two processes.

import { afterAll, beforeAll, describe } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { waitUntilIdle } from '../support/health.js';
import { startInstances, type RunningInstance } from '../support/instance.js';
import { defineRaceTests } from '../support/races.js';

let database: TestDatabase;
let instances: RunningInstance[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  instances = await startInstances([
    { databaseUrl: database.url, name: 'race-1' },
    { databaseUrl: database.url, name: 'race-2' },
  ]);
});

afterAll(async () => {
  await Promise.all(instances.map((instance) => instance.stop()));
  await database?.close();
});

describe('races, two instances directly', () => {
  defineRaceTests(() => ({
    baseUrls: instances.map((instance) => instance.baseUrl),
    ports: instances.map((instance) => instance.port),
    database,
    settle: () => waitUntilIdle(instances.map((instance) => `127.0.0.1:${instance.port}`)),
  }));
});
