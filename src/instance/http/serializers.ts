// Owns the JSON shapes crebito writes. Each serializer is compiled once, at
// start, from a schema by fast-json-stringify; the same schemas, with their
// descriptions, are the response bodies of the OpenAPI document (openapi.ts),
// so the document describes exactly what is written; the request body's
// schema is built from the same fields.

import fastJson, { type ObjectSchema } from 'fast-json-stringify';
import type { HistoryPage } from '../ledger/history.js';
import type { Statement } from '../ledger/statements.js';
import type { TransactionResult } from '../ledger/transactions.js';
import {
  DESCRIPTION_CHARACTERS_MAX,
  HISTORY_PAGE_ROWS_MAX,
  STATEMENT_TRANSACTIONS_MAX,
  AMOUNT_MAX,
} from '../../shared/limits.js';

/** A JSON Schema object, with the validation keywords the OpenAPI document shows (fast-json-stringify's types omit them). */
export interface JsonObjectSchema {
  type: 'object';
  required: string[];
  properties: Record<string, object>;
}

export const cents = (description: string) => ({ type: 'integer', description });
export const isoTime = (description: string) => ({ type: 'string', format: 'date-time', description });
export const object = (required: string[], properties: Record<string, object>): JsonObjectSchema => ({
  type: 'object',
  required,
  properties,
});

/** fast-json-stringify reads only the shape (types, properties, required) and passes the rest over, as a test shows. */
export const compile = <Value>(schema: JsonObjectSchema) =>
  fastJson(schema as unknown as ObjectSchema) as (value: Value) => string;

/** The fields every listed transaction has, in the contract's order. */
const TRANSACTION_FIELDS = {
  valor: { type: 'integer', minimum: 1, description: 'the amount, in cents' },
  tipo: { type: 'string', enum: ['c', 'd'], description: '`c` credit, `d` debit' },
  descricao: {
    type: 'string',
    minLength: 1,
    maxLength: DESCRIPTION_CHARACTERS_MAX,
    description:
      `1 to ${DESCRIPTION_CHARACTERS_MAX} Unicode characters; no control or invisible character ` +
      '(newline, tab, zero widths, direction overrides, byte order mark...: 422), so a statement shows what was stored',
  },
  realizada_em: isoTime('when it was recorded (UTC, microseconds)'),
};

/** The body of POST transacoes: the fields a transaction is listed with, less its time, valor bounded by its column. */
const { valor, tipo, descricao } = TRANSACTION_FIELDS;
export const TRANSACTION_REQUEST_SCHEMA = object(['valor', 'tipo', 'descricao'], {
  valor: { type: valor.type, minimum: valor.minimum, maximum: AMOUNT_MAX, description: valor.description },
  tipo,
  descricao,
});

export const TRANSACTION_RESULT_SCHEMA = object(['limite', 'saldo'], {
  limite: cents("the client's credit limit"),
  saldo: cents('the balance right after this transaction (never below -limite)'),
});

export const STATEMENT_SCHEMA = object(['saldo', 'ultimas_transacoes'], {
  saldo: object(['total', 'data_extrato', 'limite'], {
    total: cents('the whole current balance'),
    data_extrato: isoTime('when the statement was taken'),
    limite: cents("the client's credit limit"),
  }),
  ultimas_transacoes: {
    type: 'array',
    description: `the ${STATEMENT_TRANSACTIONS_MAX} most recent transactions, newest first`,
    maxItems: STATEMENT_TRANSACTIONS_MAX,
    items: object(Object.keys(TRANSACTION_FIELDS), TRANSACTION_FIELDS),
  },
});

export const HISTORY_PAGE_SCHEMA = object(['transacoes'], {
  transacoes: {
    type: 'array',
    maxItems: HISTORY_PAGE_ROWS_MAX,
    description: "the page's transactions, newest first",
    items: object(['id', ...Object.keys(TRANSACTION_FIELDS), 'saldo_apos'], {
      id: { type: 'integer', minimum: 1, description: "the transaction's id: higher is later, for the same client" },
      ...TRANSACTION_FIELDS,
      saldo_apos: cents(
        "the client's balance right after this transaction: the next older entry's saldo_apos plus (c) or minus (d) this valor",
      ),
      chave_api: {
        type: 'string',
        description: 'the name of the API key that made it (only with API keys on; never the key itself)',
      },
      transferencia: {
        type: 'integer',
        minimum: 1,
        description: "only on a transfer's row: the transfer's id (both sides show it)",
      },
      contraparte: {
        type: 'integer',
        minimum: 1,
        description: "only on a transfer's row: the other client (the payee of a debit, the payer of a credit)",
      },
    }),
  },
  next: {
    type: 'string',
    description: 'opaque: send it back as `before` for the next (older) page; absent on the last page',
  },
});

export const serializeTransactionResult = compile<TransactionResult>(TRANSACTION_RESULT_SCHEMA);
export const serializeStatement = compile<Statement>(STATEMENT_SCHEMA);
export const serializeHistoryPage = compile<HistoryPage>(HISTORY_PAGE_SCHEMA);
