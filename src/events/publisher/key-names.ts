// Owns the API keys' names the events carry. Keys are never deleted and
// never renamed (sql/08-keys.sql), and a key exists before any transaction
// it makes, so a name once read stays true, and a name not yet known is
// read from the table when a row first names its key.

import type pg from 'pg';

// More keys than this and the oldest are read again when next needed.
const NAMES_KEPT_MAX = 10_000;

export class KeyNames {
  private readonly names = new Map<number, string>();

  constructor(private readonly database: pg.Pool) {}

  async load(id: number): Promise<void> {
    if (this.names.has(id)) return;
    const { rows } = await this.database.query<{ nome: string }>('SELECT nome FROM chaves_api WHERE id = $1', [id]);
    if (rows[0] === undefined) return;
    if (this.names.size >= NAMES_KEPT_MAX) this.names.delete(this.names.keys().next().value!);
    this.names.set(id, rows[0].nome);
  }

  /** The key's name; null only for a key the table does not hold (the event still carries chave_api_id). */
  nameOf(id: number): string | null {
    return this.names.get(id) ?? null;
  }
}
