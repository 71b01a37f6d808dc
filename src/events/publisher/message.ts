// Owns what one ledger row becomes on the wire: the row's columns as JSON,
// named as the table names them, with the API key's name in place of its id.
// pgoutput sends each value as PostgreSQL's text; the columns we know are
// typed here, and any other column (one added later, such as a transfer's
// id) is carried through as the text PostgreSQL sent, or as a number when
// its type is an integer, so a new column reaches consumers without a change
// here.

export interface RelationColumn {
  name: string;
  typeName: string | null;
  typeOid: number;
}

/** One transaction as published. Extra columns ride along beside these. */
export interface TransactionEvent {
  id: number;
  cliente_id: number;
  valor: number;
  tipo: 'c' | 'd';
  descricao: string;
  realizada_em: string;
  saldo_apos: number;
  chave_api: string | null;
  [extra: string]: unknown;
}

// int2, int4, int8: the only types turned into JSON numbers (within 2^53).
const INTEGER_TYPE_OIDS = new Set([20, 21, 23]);
const TIMESTAMPTZ_TYPE_OID = 1184;

/** PostgreSQL's ISO text in UTC ("2026-12-06 02:40:00.1234+00") as the API writes it: 2026-12-06T02:40:00.123400Z. */
export function isoMicroseconds(text: string): string {
  const match = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00$/.exec(text);
  if (match === null) throw new Error(`unexpected timestamp text from the replication stream: ${text}`);
  return `${match[1]}T${match[2]}.${(match[3] ?? '').padEnd(6, '0')}Z`;
}

function integerOf(text: string, column: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`column ${column} holds ${text}, beyond what JSON carries exactly`);
  return value;
}

function valueOf(column: RelationColumn, text: string | null): unknown {
  if (text === null) return null;
  if (INTEGER_TYPE_OIDS.has(column.typeOid)) return integerOf(text, column.name);
  if (column.typeOid === TIMESTAMPTZ_TYPE_OID) return isoMicroseconds(text);
  if (column.typeOid === 16) return text === 't';
  return text;
}

/**
 * The event for one inserted row (every value as pgoutput's text, or null),
 * with keyName adding the name of the key chave_api_id names.
 */
export function eventOf(
  columns: RelationColumn[],
  row: Record<string, string | null>,
  keyName: (id: number) => string | null,
): TransactionEvent {
  const event: Record<string, unknown> = {};
  for (const column of columns) {
    event[column.name] = valueOf(column, row[column.name] ?? null);
  }
  const keyId = row.chave_api_id;
  event.chave_api = keyId === null || keyId === undefined ? null : keyName(integerOf(keyId, 'chave_api_id'));
  for (const required of ['id', 'cliente_id', 'valor', 'tipo', 'descricao', 'realizada_em', 'saldo_apos']) {
    if (event[required] === undefined || event[required] === null)
      throw new Error(`a transacoes row without ${required}`);
  }
  return event as TransactionEvent;
}

/** Where an event goes on the topic exchange: one client's key, or every client's with clientes.*. */
export function routingKeyOf(event: TransactionEvent): string {
  return `clientes.${event.cliente_id}`;
}

/**
 * The message's properties, the same from the publisher and from a recovery:
 * persistent, message id = the row's id (what consumers dedupe by), and
 * mandatory, so a message no queue takes is returned and counted.
 */
export function messagePropertiesOf(event: TransactionEvent) {
  return {
    mandatory: true,
    persistent: true,
    messageId: String(event.id),
    contentType: 'application/json',
    type: 'transacao',
    timestamp: Math.floor(Date.now() / 1000),
  };
}
