// The API keys' management (npm run keys; docs/security.md, API keys), as the schema's
// owner: make a key (its secret is returned once and only its SHA-256 is
// stored, sql/08-keys.sql), list the keys (never a secret nor a hash), and
// revoke one by name. The instances see each change within their poll
// (src/instance/ledger/api-keys.ts).

import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { hashApiKey } from '../../src/instance/ledger/api-keys.js';

/** Recognisable in a log, a diff or a secret scanner's rules, before the 256 random bits. */
export const API_KEY_PREFIX = 'crb_';
/** 32 bytes: 256 bits from the system's strong source, base64url (43 characters). */
const API_KEY_RANDOM_BYTES = 32;
/** Longest expiry accepted: ten years. */
export const EXPIRES_IN_S_MAX = 10 * 365 * 86_400;

export type Scope = 'read' | 'read-write';
export const SCOPES: readonly Scope[] = ['read', 'read-write'];

export interface NewKey {
  name: string;
  /** The clients it may act on; 'all': every one. */
  clients: number[] | 'all';
  scope: Scope;
  /** undefined: it never expires. */
  expiresInS: number | undefined;
}

export interface ListedKey {
  name: string;
  clients: number[] | 'all';
  scope: Scope;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

export function newApiKeySecret(): string {
  return API_KEY_PREFIX + randomBytes(API_KEY_RANDOM_BYTES).toString('base64url');
}

/** Makes the key and returns its secret: the only time anyone sees it. */
export async function createKey(client: pg.Client, key: NewKey): Promise<string> {
  const secret = newApiKeySecret();
  await client.query(
    `INSERT INTO chaves_api (nome, hash, clientes, escrita, expira_em)
     VALUES ($1, $2, $3, $4, now() + $5 * interval '1 second')`,
    [
      key.name,
      hashApiKey(secret),
      key.clients === 'all' ? null : key.clients,
      key.scope === 'read-write',
      key.expiresInS ?? null,
    ],
  );
  return secret;
}

export async function listKeys(client: pg.Client): Promise<ListedKey[]> {
  const { rows } = await client.query<{
    nome: string;
    clientes: number[] | null;
    escrita: boolean;
    criada_em: Date;
    expira_em: Date | null;
    revogada_em: Date | null;
  }>('SELECT nome, clientes, escrita, criada_em, expira_em, revogada_em FROM chaves_api ORDER BY id');
  return rows.map((row) => ({
    name: row.nome,
    clients: row.clientes ?? 'all',
    scope: row.escrita ? 'read-write' : 'read',
    createdAt: row.criada_em.toISOString(),
    expiresAt: row.expira_em?.toISOString() ?? null,
    revokedAt: row.revogada_em?.toISOString() ?? null,
  }));
}

/** Revokes the key in force with this name; false when there is none. */
export async function revokeKey(client: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query(
    'UPDATE chaves_api SET revogada_em = now() WHERE nome = $1 AND revogada_em IS NULL',
    [name],
  );
  return rowCount === 1;
}
