// npm run keys -- create|list|revoke: manages the API keys CREBITO_AUTH=keys
// asks for, talking to the database directly as the schema's owner
// (DATABASE_OWNER_URL, else DATABASE_URL, else the running embedded stack's
// state.json). `create` prints the new key alone on its last line, where a
// script reads it; nothing else ever prints a key.
//
//   npm run keys -- create --name billing --clients 1,2 --scope read-write [--expires-in-s 86400]
//   npm run keys -- list
//   npm run keys -- revoke billing

import { parseArgs } from 'node:util';
import pg from 'pg';
import { readLauncherConfig } from '../../src/stack/config.js';
import { readStackState } from '../../src/stack/state.js';
import { numberOption } from '../harness/target.js';
import { createKey, EXPIRES_IN_S_MAX, listKeys, revokeKey, SCOPES, type NewKey, type Scope } from './keys.js';
import { readSettings } from '../../src/shared/settings.js';

const USAGE =
  'usage: npm run keys -- create --name <name> --clients <all|1,2,...> --scope <read|read-write> [--expires-in-s <s>] | list | revoke <name>';
const CLIENT_ID_MAX = 2 ** 31 - 1;
/** Timer slack on top of the staleness bound. */
const SETTLE_MARGIN_MS = 50;

/**
 * Returns once every instance sees a change just committed. An instance
 * trusts its keys only while the poll that confirmed them started less than
 * CREBITO_API_KEYS_STALE_MS ago (src/instance/ledger/api-keys.ts), else it
 * answers 503; so that long after the commit, every instance that answers at
 * all answers by a poll that started after the commit, and saw it. A script
 * that creates a key and uses it at once is then served. The bound is read
 * from this environment, as the launcher reads it: give both the same.
 */
async function settle(): Promise<void> {
  const { apiKeysStaleMs } = readSettings(process.env, ['apiKeysStaleMs']);
  await new Promise((resolve) => setTimeout(resolve, apiKeysStaleMs + SETTLE_MARGIN_MS));
}

/** The owner's database: the settings' order (DATABASE_OWNER_URL defaults to DATABASE_URL), then the running stack. */
export function ownerDatabaseUrl(environment: NodeJS.ProcessEnv): string {
  const { databaseOwnerUrl, databaseUrl } = readSettings(environment, ['databaseOwnerUrl', 'databaseUrl']);
  const given = databaseOwnerUrl ?? databaseUrl;
  if (given) return given;
  const url = readStackState(readLauncherConfig(environment).dataDirectory).databaseUrl;
  if (url === '')
    throw new Error("the running stack uses an external database: set DATABASE_OWNER_URL (the schema owner's URL)");
  return url;
}

function readClients(value: string | undefined): NewKey['clients'] {
  if (value === 'all') return 'all';
  const ids = (value ?? '')
    .split(',')
    .map((id) => numberOption(id, 'clients', { min: 1, max: CLIENT_ID_MAX, whole: true }));
  if (ids.length === 0 || value === undefined) throw new Error('--clients is all or a list of client ids, e.g. 1,2');
  return [...new Set(ids)];
}

function readNewKey(values: Record<string, string | undefined>): NewKey {
  if (values.name === undefined) throw new Error('--name is required');
  const scope = SCOPES.find((known) => known === values.scope);
  if (scope === undefined) throw new Error(`--scope is ${SCOPES.join(' or ')}, got ${values.scope}`);
  return {
    name: values.name,
    clients: readClients(values.clients),
    scope: scope as Scope,
    expiresInS:
      values['expires-in-s'] === undefined
        ? undefined
        : numberOption(values['expires-in-s'], 'expires-in-s', { min: 1, max: EXPIRES_IN_S_MAX, whole: true }),
  };
}

async function run(
  command: string | undefined,
  positionals: string[],
  values: Record<string, string | undefined>,
  client: pg.Client,
): Promise<void> {
  if (command === 'create') {
    const key = readNewKey(values);
    const secret = await createKey(client, key);
    await settle();
    console.log(
      `created API key ${key.name}: clients ${key.clients === 'all' ? 'all' : key.clients.join(',')}, ` +
        `scope ${key.scope}${key.expiresInS === undefined ? '' : `, expires in ${key.expiresInS} s`}`,
    );
    console.log('the key follows; it is shown this once, and only its hash is kept:');
    console.log(secret);
  } else if (command === 'list') {
    for (const key of await listKeys(client)) {
      const state =
        key.revokedAt !== null
          ? `revoked ${key.revokedAt}`
          : key.expiresAt !== null && Date.parse(key.expiresAt) <= Date.now()
            ? `expired ${key.expiresAt}`
            : 'in force';
      console.log(
        `${key.name}\tclients ${key.clients === 'all' ? 'all' : key.clients.join(',')}\t${key.scope}` +
          `\tcreated ${key.createdAt}\texpires ${key.expiresAt ?? 'never'}\t${state}`,
      );
    }
  } else if (command === 'revoke') {
    const name = positionals[0];
    if (name === undefined || positionals.length !== 1) throw new Error(USAGE);
    if (!(await revokeKey(client, name))) throw new Error(`no API key in force is named ${name}`);
    await settle();
    console.log(`revoked API key ${name}: every instance refuses it from now on`);
  } else {
    throw new Error(USAGE);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      clients: { type: 'string' },
      scope: { type: 'string' },
      'expires-in-s': { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  const client = new pg.Client({ connectionString: ownerDatabaseUrl(process.env), application_name: 'crebito-keys' });
  await client.connect();
  try {
    await run(command, rest, values, client);
  } finally {
    await client.end();
  }
}

main().catch((error: unknown) => {
  // The message only: a stack trace would say nothing more to an operator.
  console.error(`keys: ${(error as Error).message}`);
  process.exit(1);
});
