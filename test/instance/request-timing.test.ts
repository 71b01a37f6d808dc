// The instance's per-request timing (src/instance/timing.ts), read as the
// bench reads it (tools/bench/latency/instance-timing.ts): each request of
// the API counted once in each of its phases, on the admin listener only.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../tools/harness/stack.js';
import {
  countOf,
  fineBucketsBetween,
  finePercentileMs,
  parseTimingPages,
} from '../../tools/bench/latency/instance-timing.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { request } from '../support/http.js';
import { startInstance, type RunningInstance } from '../support/instance.js';

let database: TestDatabase;
let instance: RunningInstance;
let admin: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const adminPort = await freePort();
  admin = `http://127.0.0.1:${adminPort}`;
  instance = await startInstance({
    databaseUrl: database.url,
    environment: { CREBITO_ADMIN_LISTEN: `127.0.0.1:${adminPort}` },
  });
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

const timing = async () => parseTimingPages([(await request(admin, 'GET', '/timing')).text]);

describe('/timing', () => {
  it("counts each transaction and statement once in every phase, and a phase never longer than the request's total", async () => {
    const before = await timing();
    const posted = await request(instance.baseUrl, 'POST', '/clientes/1/transacoes', {
      valor: 1,
      tipo: 'c',
      descricao: 'timing',
    });
    expect(posted.status).toBe(200);
    expect((await request(instance.baseUrl, 'GET', '/clientes/1/extrato')).status).toBe(200);
    const after = await timing();
    for (const route of ['transacoes', 'extrato']) {
      const phase = (name: string) =>
        fineBucketsBetween(before.series.get(route)?.get(name), after.series.get(route)?.get(name));
      for (const name of ['received', 'waited', 'database', 'replied', 'total']) expect(countOf(phase(name))).toBe(1);
      const total = finePercentileMs(phase('total'), 1)!;
      // Each bound is within 1/64 above its value: a phase's bound may pass the total's by that much at most.
      for (const name of ['received', 'waited', 'database', 'replied'])
        expect(finePercentileMs(phase(name), 1)!).toBeLessThanOrEqual(total * (1 + 1 / 64) + 0.001);
    }
  });

  it('is served on the admin listener only', async () => {
    expect((await request(instance.baseUrl, 'GET', '/timing')).status).toBe(404);
  });
});
