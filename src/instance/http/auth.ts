// Owns checking a request's API key (CREBITO_AUTH=keys): the Authorization
// header read into a secret, looked up among the keys in force
// (ledger/api-keys.ts, in memory: no database round trip), then whether
// that key may act on the client and do what the route does. A route calls
// it first, before reading anything else of the request, so a caller
// without a key learns nothing (not even whether a client exists).

import { failures, type Failure } from '../../shared/failures.js';
import type { ApiKey, ApiKeys } from '../ledger/api-keys.js';

/** What a route does to a client's ledger. */
export type Access = 'read' | 'write';

/** Longest Authorization header read: our keys are 48 characters; anything much longer is not one. */
const AUTHORIZATION_CHARACTERS_MAX = 256;
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/**
 * The key a request may act with: undefined when auth is off, the key when
 * it may, else the Failure to answer. clientId is undefined for a path that
 * names no valid client: a key limited to some clients may not ask for it.
 * address is the client's as nginx forwards it (X-Real-IP; '' without
 * nginx): a request with no valid key counts against it, and past the rate
 * limit is answered 429 instead of 401.
 */
export function authorize(
  apiKeys: ApiKeys | undefined,
  authorization: string,
  clientId: number | undefined,
  access: Access,
  address = '',
): ApiKey | Failure | undefined {
  if (apiKeys === undefined) return undefined;
  const refuse = (failure: Failure) => (apiKeys.countRefusal(address) ? failure : failures.tooManyRequests);
  if (authorization === '') return refuse(failures.apiKeyMissing);
  const secret = authorization.length <= AUTHORIZATION_CHARACTERS_MAX ? BEARER.exec(authorization)?.[1] : undefined;
  if (secret === undefined) return refuse(failures.apiKeyInvalid);
  const key = apiKeys.find(secret);
  // The keys cannot be vouched for (the database has not answered their poll
  // for a while): a key revoked meanwhile must not pass.
  if (key === 'stale') return failures.databaseDown;
  if (key === undefined) return refuse(failures.apiKeyInvalid);
  if (key.clients !== undefined && (clientId === undefined || !key.clients.has(clientId)))
    return failures.clientForbidden;
  if (access === 'write' && !key.write) return failures.readOnlyKey;
  return key;
}
