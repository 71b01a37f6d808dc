// The operations' one list (src/instance/operations/index.ts) against what
// is derived or checked from it: every route is in the API description and
// the description has no path nothing serves, every query is warmed, labels
// are one per operation, and the default settings' connection classes fit
// the pool whatever the number of operations.

import { describe, expect, it } from 'vitest';
import { OPENAPI_DOCUMENT } from '../../src/instance/http/openapi.js';
import { warmUpCalls } from '../../src/instance/ledger/warm-up.js';
import { API_OPERATIONS } from '../../src/instance/operations/index.js';
import { RESERVED_CONNECTIONS } from '../../src/shared/limits.js';
import { checkInstanceLimits, readSettings, SETTINGS } from '../../src/shared/settings.js';

const PROBE_PATHS = ['/health', '/ready'];
const described = Object.entries(OPENAPI_DOCUMENT.paths as Record<string, Record<string, unknown>>)
  .filter(([path]) => !PROBE_PATHS.includes(path))
  .flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => key !== 'parameters')
      .map((method) => `${method} ${path}`),
  );
const served = API_OPERATIONS.map((operation) => `${operation.method} ${operation.path.replace(/:([a-z]+)/g, '{$1}')}`);

describe('operations', () => {
  it('every route is in the API description, and the description has no route nothing serves', () => {
    expect([...described].sort()).toEqual([...served].sort());
  });

  it('each has a label of its own, and the former labels collide with none', () => {
    const labels = API_OPERATIONS.flatMap((operation) => [operation.label, operation.formerLabel]).filter(
      (label) => label !== undefined,
    );
    expect(new Set(labels).size).toBe(labels.length);
  });

  it('every query an operation declares is warmed on each connection, under its name and text', () => {
    const warmed = warmUpCalls(API_OPERATIONS).map((call) => `${call.name} ${call.text}`);
    for (const query of API_OPERATIONS.flatMap((operation) => operation.queries)) {
      expect(warmed).toContain(`${query.name} ${query.text}`);
    }
  });

  it('every operation holds connections of a class the pool accounts for, and the defaults fit the pool', () => {
    for (const operation of API_OPERATIONS) expect(['writes', 'reads']).toContain(operation.connections);
    const defaults = readSettings({}, [
      'poolClientsMax',
      'writesInFlightMax',
      'readsInFlightMax',
      'queueWaitMsMax',
      'requestTimeoutMs',
      'idempotencyWaitMsMax',
    ]);
    expect(() => checkInstanceLimits(defaults)).not.toThrow();
    const reserved = Object.values(RESERVED_CONNECTIONS).reduce((sum: number, connections) => sum + connections, 0);
    expect(defaults.writesInFlightMax + defaults.readsInFlightMax + reserved).toBe(SETTINGS.poolClientsMax.default);
  });
});
