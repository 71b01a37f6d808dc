// Owns the API keys an instance knows (CREBITO_AUTH=keys): the keys in force,
// held in memory so that checking a request's key costs no database round
// trip, and kept fresh by a cheap poll. Every API_KEYS_POLL_INTERVAL_MS the
// instance reads one counter (versao_chaves_api, sql/08-keys.sql) that every
// change of the keys bumps, and reloads the keys, with the counter, in one
// snapshot only when it moved. So a key revoked (or made) is refused (or
// accepted) by every instance within one interval plus one poll's time.
//
// Bound: a key is trusted only while the keys were confirmed less than
// CREBITO_API_KEYS_STALE_MS ago (counted from the start of the poll that
// confirmed them). When the database does not answer the poll for longer,
// the instance answers 503 rather than trust keys that may have been revoked
// since: a revocation never takes longer than that to bite.
//
// The polls use a connection of their own, outside the pool the requests
// share, so they never wait behind a request nor hold one up.

import { createHash } from 'node:crypto';
import { crashOnBug, invariant } from '../../shared/invariant.js';
import type { Log } from '../../shared/log.js';
import { openDatabase, QueryFailure, type Database, type DatabaseOptions, type Row } from '../database/pool.js';
import { createAddressLimit } from '../http/address-limit.js';

/** How often the counter is read: with its own time, the usual delay before a revocation bites. */
export const API_KEYS_POLL_INTERVAL_MS = 250;
/** Most keys held in memory; more in force is refused loudly rather than held unbounded. */
export const API_KEYS_IN_FORCE_MAX = 100_000;

const API_KEYS_VERSION_QUERY = { name: 'versao_chaves_api', text: 'SELECT versao FROM versao_chaves_api' };
// One snapshot: the keys in force and the counter they belong to (a LEFT
// JOIN, so that no key in force still says which version that is).
const API_KEYS_QUERY = {
  name: 'chaves_api',
  text: `SELECT v.versao, k.id, k.nome, k.verificador, k.clientes, k.escrita,
                (extract(epoch FROM k.expira_em) * 1000)::float8
           FROM versao_chaves_api v
           LEFT JOIN chaves_api k ON k.revogada_em IS NULL AND (k.expira_em IS NULL OR k.expira_em > now())
          LIMIT ${API_KEYS_IN_FORCE_MAX + 1}`,
};

export interface ApiKey {
  id: number;
  /** Shown in the history beside what the key did; never the key itself. */
  name: string;
  /** The clients it may act on; undefined: every one. */
  clients: ReadonlySet<number> | undefined;
  /** false: it may only read. */
  write: boolean;
  /** undefined: it does not expire. */
  expiresAtMs: number | undefined;
  /**
   * What the transaction functions take as proof that this key writes: its
   * stored hash (hashApiKey), which the instances' database role cannot read.
   * Known once a request has shown the key to this instance.
   */
  proof: Buffer | undefined;
}

export interface ApiKeysHealth {
  inForce: number;
  reloads: number;
  /** How long ago the keys were last confirmed; null before the first load. */
  confirmedMsAgo: number | null;
}

export interface ApiKeys {
  /** The key in force with this secret, undefined if none; 'stale' when the keys cannot be vouched for. */
  find(secret: string): ApiKey | undefined | 'stale';
  /** Whether the keys were confirmed within API_KEYS_STALE_MS. */
  fresh(): boolean;
  /**
   * Counts a request refused for want of a valid key from this address; false once the address is past the
   * rate (http/address-limit.ts).
   */
  countRefusal(address: string): boolean;
  health(): ApiKeysHealth;
  stop(): Promise<void>;
}

/** The hash a key is stored by (sql/08-keys.sql says why SHA-256), and the proof of a write made with it. */
export function hashApiKey(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** What the instances look a key up by: the hash of its hash (chaves_api.verificador). */
export function verifierOf(proof: Buffer): Buffer {
  return createHash('sha256').update(proof).digest();
}

function toKeys(rows: Row[]): Map<string, ApiKey> {
  invariant(rows.length <= API_KEYS_IN_FORCE_MAX, `more than ${API_KEYS_IN_FORCE_MAX} API keys in force`);
  const keys = new Map<string, ApiKey>();
  type KeyRow = [unknown, number | null, string, Buffer, number[] | null, boolean, number | null];
  for (const [, id, name, verifier, clients, write, expiresAtMs] of rows as KeyRow[]) {
    if (id === null) continue;
    keys.set(verifier.toString('base64'), {
      id,
      name,
      write,
      clients: clients === null ? undefined : new Set(clients),
      expiresAtMs: expiresAtMs ?? undefined,
      proof: undefined,
    });
  }
  return keys;
}

export type ApiKeysOptions = Omit<DatabaseOptions, 'poolClientsMax' | 'onAnswered' | 'warmUp'> & {
  /** Keys confirmed longer ago than this are not trusted (CREBITO_API_KEYS_STALE_MS). */
  staleMs: number;
  /** CREBITO_RATE_LIMIT_PER_S: the 401s an address may get per second; 0: no limit. */
  refusalsPerS: number;
};

/** What the polls keep up to date, and what a request's key is checked against. */
interface KeysState {
  keys: Map<string, ApiKey>;
  /** The counter the keys in memory belong to; undefined before the first load. */
  version: string | undefined;
  /** When the poll that last confirmed the keys started (performance.now()). */
  confirmedAtMs: number | undefined;
  reloads: number;
  /** Whether the last poll failed: its warning is logged once per change. */
  failing: boolean;
}

function openKeysDatabase(options: ApiKeysOptions): Database {
  // The pool logs each failed query; a poll failing four times a second
  // while the database is down is logged by pollKeys instead, once per change.
  // Its one connection sends one query of its own: nothing to warm.
  return openDatabase({
    ...options,
    log: options.log.child({}, { level: 'fatal' }),
    poolClientsMax: 1,
    warmUp: [],
    onAnswered: () => undefined,
  });
}

/** Reads the counter, and the keys with it only when it moved; the keys are confirmed when the database answered. */
async function pollKeys(database: Database, state: KeysState, options: ApiKeysOptions): Promise<void> {
  const startedMs = performance.now();
  const current = await database.query(API_KEYS_VERSION_QUERY.name, API_KEYS_VERSION_QUERY.text, []);
  let rows: Row[] | QueryFailure = current;
  if (!(current instanceof QueryFailure) && String(current[0]![0]) !== state.version) {
    rows = await database.query(API_KEYS_QUERY.name, API_KEYS_QUERY.text, []);
  }
  if (rows instanceof QueryFailure) {
    if (!state.failing) {
      options.log.warn(
        { err: rows.error, staleMs: options.staleMs },
        'cannot read the API keys; refusing requests with 503 once they are stale',
      );
    }
    state.failing = true;
    return;
  }
  if (state.failing) options.log.info('the API keys are read again');
  state.failing = false;
  if (rows !== current) {
    state.keys = toKeys(rows);
    state.version = String(rows[0]![0]);
    state.reloads++;
  }
  state.confirmedAtMs = startedMs;
}

/** The key in force with this secret, undefined if none (the caller has checked that the keys are fresh). */
function findKey(state: KeysState, secret: string): ApiKey | undefined {
  const proof = hashApiKey(secret);
  const key = state.keys.get(verifierOf(proof).toString('base64'));
  // A key that expired since the last load is refused at once.
  if (key?.expiresAtMs !== undefined && key.expiresAtMs <= Date.now()) return undefined;
  if (key !== undefined) key.proof ??= proof;
  return key;
}

function healthOf(state: KeysState): ApiKeysHealth {
  const confirmedMsAgo = state.confirmedAtMs === undefined ? null : Math.round(performance.now() - state.confirmedAtMs);
  return { inForce: state.keys.size, reloads: state.reloads, confirmedMsAgo };
}

export function startApiKeys(options: ApiKeysOptions): ApiKeys {
  const database = openKeysDatabase(options);
  const state: KeysState = {
    keys: new Map(),
    version: undefined,
    confirmedAtMs: undefined,
    reloads: 0,
    failing: false,
  };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  function schedule(delayMs: number): void {
    timer = setTimeout(() => {
      running = pollKeys(database, state, options)
        .catch(crashOnBug)
        .finally(() => {
          if (!stopped) schedule(API_KEYS_POLL_INTERVAL_MS);
        });
    }, delayMs);
    timer.unref();
  }
  schedule(0);

  const fresh = () => state.confirmedAtMs !== undefined && performance.now() - state.confirmedAtMs < options.staleMs;
  const refusals = createAddressLimit(options.refusalsPerS);
  return {
    find: (secret) => (fresh() ? findKey(state, secret) : 'stale'),
    fresh,
    countRefusal: (address) => refusals.take(address),
    health: () => healthOf(state),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await database.close();
    },
  };
}
