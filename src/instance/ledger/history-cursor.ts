// Owns the format of a history cursor, the opaque `next` value a page
// returns and the next request sends back as `before`: the client, the id
// the next page starts below, and the tag the database signed them with
// (sql/06-history.sql, etiqueta_cursor), in 24 bytes written as 32
// base64url characters. The instance only packs and unpacks it; whether the
// tag is genuine is the database's to say, since only it holds the secret.

export const CURSOR_TAG_BYTES = 12;
const CLIENT_BYTES = 4;
const ID_BYTES = 8;
const CURSOR_BYTES = CLIENT_BYTES + ID_BYTES + CURSOR_TAG_BYTES;
const CURSOR_TEXT = /^[A-Za-z0-9_-]{32}$/;

export interface Cursor {
  clientId: number;
  /** The next page holds the rows below this transacoes.id. */
  beforeId: number;
  tag: Buffer;
}

export function encodeCursor(cursor: Cursor): string {
  if (!(cursor.tag.length === CURSOR_TAG_BYTES && Number.isSafeInteger(cursor.beforeId) && cursor.beforeId > 0)) {
    throw new Error(`cannot encode cursor ${JSON.stringify({ ...cursor, tag: cursor.tag.toString('hex') })}`);
  }
  const bytes = Buffer.alloc(CURSOR_BYTES);
  bytes.writeUInt32BE(cursor.clientId, 0);
  bytes.writeBigUInt64BE(BigInt(cursor.beforeId), CLIENT_BYTES);
  cursor.tag.copy(bytes, CLIENT_BYTES + ID_BYTES);
  return bytes.toString('base64url');
}

/** The cursor a text names, or undefined when it is not one this API could have written. */
export function decodeCursor(text: string): Cursor | undefined {
  if (!CURSOR_TEXT.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  // 32 characters always decode to 24 bytes; re-encoding catches the
  // spellings base64url tolerates (stray low bits in the last character).
  if (bytes.length !== CURSOR_BYTES || bytes.toString('base64url') !== text) return undefined;
  const beforeId = bytes.readBigUInt64BE(CLIENT_BYTES);
  if (beforeId < 1n || beforeId > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return {
    clientId: bytes.readUInt32BE(0),
    beforeId: Number(beforeId),
    tag: bytes.subarray(CLIENT_BYTES + ID_BYTES),
  };
}
