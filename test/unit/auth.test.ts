// The API key check (src/instance/http/auth.ts) over keys held in memory:
// each way a request can fail, which failure of the catalogue answers it,
// and that a key in force passes with itself. The instance test
// (test/instance/api-keys.test.ts) drives the same over HTTP and the database.

import { describe, expect, it } from 'vitest';
import { failures } from '../../src/shared/failures.js';
import { authorize } from '../../src/instance/http/auth.js';
import { hashApiKey, type ApiKey, type ApiKeys } from '../../src/instance/ledger/api-keys.js';

const SECRET = `crb_${'k'.repeat(43)}`;
const key = (overrides: Partial<ApiKey>): ApiKey => ({
  id: 7,
  name: 'test',
  clients: undefined,
  write: true,
  expiresAtMs: undefined,
  proof: undefined,
  ...overrides,
});

function keysHolding(held: ApiKey | undefined, options: { fresh: boolean } = { fresh: true }): ApiKeys {
  const stored = new Map(held === undefined ? [] : [[hashApiKey(SECRET).toString('base64'), held]]);
  return {
    find: (secret) => (options.fresh ? stored.get(hashApiKey(secret).toString('base64')) : 'stale'),
    fresh: () => options.fresh,
    countRefusal: () => true,
    health: () => ({ inForce: stored.size, reloads: 1, confirmedMsAgo: 0 }),
    stop: async () => undefined,
  };
}

describe('authorize', () => {
  it('lets everything through with auth off', () => {
    expect(authorize(undefined, '', 1, 'write')).toBeUndefined();
  });

  it.each([
    ['no header', '', failures.apiKeyMissing],
    ['another scheme', `Basic ${SECRET}`, failures.apiKeyInvalid],
    ['a bearer with nothing after it', 'Bearer ', failures.apiKeyInvalid],
    ['a key with a space inside', `Bearer ${SECRET} x`, failures.apiKeyInvalid],
    ['an over-long header', `Bearer ${'a'.repeat(300)}`, failures.apiKeyInvalid],
    ['an unknown key', `Bearer crb_${'u'.repeat(43)}`, failures.apiKeyInvalid],
  ])('refuses %s with 401', (_what, header, failure) => {
    expect(authorize(keysHolding(key({})), header, 1, 'read')).toBe(failure);
    expect(failure.status).toBe('401 Unauthorized');
    expect(
      failure.headers.some(([name, value]) => name === 'www-authenticate' && value.startsWith('Bearer realm=')),
    ).toBe(true);
  });

  it('refuses a key for other clients, or for no valid client, with 403', () => {
    const keys = keysHolding(key({ clients: new Set([2]) }));
    expect(authorize(keys, `Bearer ${SECRET}`, 1, 'read')).toBe(failures.clientForbidden);
    expect(authorize(keys, `Bearer ${SECRET}`, undefined, 'read')).toBe(failures.clientForbidden);
    expect(authorize(keys, `Bearer ${SECRET}`, 2, 'read')).toMatchObject({ id: 7 });
  });

  it('refuses a read-only key a write with 403, and lets it read', () => {
    const keys = keysHolding(key({ write: false }));
    expect(authorize(keys, `Bearer ${SECRET}`, 1, 'write')).toBe(failures.readOnlyKey);
    expect(authorize(keys, `bearer ${SECRET}`, 1, 'read')).toMatchObject({ id: 7, name: 'test' });
  });

  it('answers 503 (nothing applied) rather than trust keys it cannot vouch for', () => {
    expect(authorize(keysHolding(key({}), { fresh: false }), `Bearer ${SECRET}`, 1, 'read')).toBe(
      failures.databaseDown,
    );
  });
});
