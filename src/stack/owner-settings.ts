// Owns what the launcher decides for the database as the schema's owner,
// where an instance cannot change it (configuracao, sql/01-schema.sql): how
// long idempotency keys are kept, and whether every write needs an API key.
// Written in the schema's transaction, from the launcher's settings, so the
// instances start against the owner's decision of this start.

import type pg from 'pg';

export interface OwnerSettings {
  /** CREBITO_IDEMPOTENCY_RETENTION_S: the expiry removes no key younger than this, whoever triggers it. */
  idempotencyRetentionS: number;
  /** CREBITO_AUTH: with 'keys', the transaction functions refuse a write that names no API key. */
  auth: 'off' | 'keys';
}

const WRITE = 'UPDATE configuracao SET retencao_chaves_s = $1, chave_api_obrigatoria = $2';

export async function writeOwnerSettings(client: pg.Client, settings: OwnerSettings): Promise<void> {
  await client.query(WRITE, [settings.idempotencyRetentionS, settings.auth === 'keys']);
}
