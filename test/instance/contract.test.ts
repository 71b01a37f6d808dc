// The contract table against one real instance over TCP, no proxy in between.

import { afterAll, beforeAll, describe } from 'vitest';
import { defineContractTests, type ContractTarget } from '../support/contract.js';
import { createTestDatabase } from '../support/database.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

let target: ContractTarget;
let instance: RunningInstance;

beforeAll(async () => {
  const database = await createTestDatabase();
  instance = await startInstance({ databaseUrl: database.url });
  target = { baseUrl: instance.baseUrl, port: instance.port, database };
});

afterAll(async () => {
  await instance?.stop();
  await target?.database.close();
});

describe('contract, direct to one instance', () => {
  defineContractTests(() => target);
});
