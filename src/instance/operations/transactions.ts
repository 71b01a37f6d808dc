// Declares POST /clientes/{id}/transacoes, the contract's transaction: a
// credit or a debit, with an optional Idempotency-Key. The calls and how
// their rows become answers are in ledger/transactions.ts.

import { Failure, failures } from '../../shared/failures.js';
import { IDEMPOTENCY_KEY_CHARACTERS_MAX } from '../../shared/limits.js';
import { SETTINGS } from '../../shared/settings.js';
import {
  AUTH_NOTES,
  AUTH_SECURITY,
  CONTRACT,
  errorResponses,
  json,
  REPLAYED_HEADERS,
  RETRY_AFTER_HEADERS,
  UNAVAILABLE,
  UNAVAILABLE_NOTES,
  WRITE_AUTH,
} from '../http/api-description.js';
import { authorize } from '../http/auth.js';
import { readBody } from '../http/body.js';
import type { Exchange } from '../http/exchange.js';
import { IDEMPOTENCY_KEY_HEADER, readIdempotencyKeyHeader, REPLAYED_HEADER } from '../http/headers.js';
import { replyFailure, replyWith } from '../http/replies.js';
import {
  serializeTransactionResult,
  TRANSACTION_REQUEST_SCHEMA,
  TRANSACTION_RESULT_SCHEMA,
} from '../http/serializers.js';
import { parseClientId, parseIdempotencyKey, parseTransactionBody } from '../http/validation.js';
import {
  Replay,
  TRANSACTION_QUERIES,
  type PendingTransaction,
  type TransactionAnswer,
} from '../ledger/transactions.js';
import { MOVEMENTS_QUERY, sendAny, type PendingMovement } from '../ledger/transfers.js';
import type { ApiOperation, Handle, RouteContext } from './declaration.js';
import type { HttpRequest } from '../http/uws.js';

const SECONDS_PER_HOUR = 3600;
const REPLAYED = [[REPLAYED_HEADER.toLowerCase(), 'true']] as const;

/** A replayed outcome is written exactly as the first time, marked as a replay; only a first outcome is counted. */
function replyTransaction(context: RouteContext, exchange: Exchange, tipo: 'c' | 'd', answer: TransactionAnswer): void {
  if (answer instanceof Replay) {
    return replyWith(context.book, exchange, answer.answer, serializeTransactionResult, REPLAYED);
  }
  if (!(answer instanceof Failure)) context.metrics.transaction(tipo, 'applied');
  else if (answer === failures.limitExceeded || answer === failures.balanceTooLarge) {
    context.metrics.transaction(tipo, 'refused');
  }
  replyWith(context.book, exchange, answer, serializeTransactionResult);
}

const handle: Handle<PendingTransaction, TransactionAnswer> = (context, exchange, request, submit) => {
  const { book } = context;
  const write = readKeyedWrite(context, request);
  // The body is read first even when the key is refused: answering before
  // it would leave its bytes on the connection, read as the next request.
  const onBody = (body: Uint8Array) => {
    if (write instanceof Failure) return replyFailure(book, exchange, write);
    const { clientId, apiKey, idempotencyKey } = write;
    const transaction = parseTransactionBody(body);
    if (transaction instanceof Failure) return replyFailure(book, exchange, transaction);
    const pending = { clientId, request: transaction, idempotencyKey, apiKeyProof: apiKey?.proof };
    book.replyAfter(exchange, submit(pending), (answer) =>
      replyTransaction(context, exchange, transaction.tipo, answer),
    );
  };
  const tooLarge = () => replyFailure(book, exchange, failures.bodyTooLarge);
  readBody(exchange, request.getHeader('content-length'), onBody, tooLarge);
};

const DESCRIPTION = {
  operationId: 'registrarTransacao',
  tags: [CONTRACT],
  summary: 'Apply a credit or a debit',
  description:
    'Applies it at once, or refuses a debit that would take the balance below `-limite` ' +
    '(422, nothing moves). ' +
    `With an \`${IDEMPOTENCY_KEY_HEADER}\` header, the first request with that key (per client, and per API key ` +
    'with API keys on) is applied once ' +
    'and its outcome stored with it; ' +
    'a retry with the same key and the same body gets that outcome again, byte for byte, ' +
    `marked by \`${REPLAYED_HEADER}: true\`, ` +
    'and moves nothing. A retry is safe after a timeout, a lost connection or a 503 whose outcome is unknown.',
  parameters: [
    {
      name: IDEMPOTENCY_KEY_HEADER,
      in: 'header',
      required: false,
      description:
        `1 to ${IDEMPOTENCY_KEY_CHARACTERS_MAX} visible ASCII characters, unique per logical transaction ` +
        `(a UUID, say); kept at least ${SETTINGS.idempotencyRetentionS.env} ` +
        `(${SETTINGS.idempotencyRetentionS.default / SECONDS_PER_HOUR} h by default). ` +
        'An empty value is as if there were none.',
      schema: { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_CHARACTERS_MAX, pattern: '^[!-~]+$' },
    },
  ],
  security: AUTH_SECURITY,
  requestBody: {
    required: true,
    content: {
      'application/json': {
        schema: TRANSACTION_REQUEST_SCHEMA,
        example: { valor: 1000, tipo: 'c', descricao: 'descricao' },
      },
    },
  },
  responses: keyedWriteResponses(TRANSACTION_RESULT_SCHEMA, 'debit', [
    failures.invalidValor,
    failures.invalidTipo,
    failures.invalidDescricao,
    failures.limitExceeded,
    failures.balanceTooLarge,
  ]),
};

export const TRANSACTIONS = {
  method: 'post',
  path: '/clientes/:id/transacoes',
  label: 'transacoes',
  access: 'write',
  connections: 'writes',
  // Transfers join these calls (operations/transfers.ts): a call holding one goes to registrar_movimentos.
  queries: [...TRANSACTION_QUERIES, MOVEMENTS_QUERY],
  sizeMax: (settings) => settings.batchSizeMax,
  send: (batch, { database, log, settings }) =>
    sendAny(database, batch, { idempotencyKeyWaitMsMax: settings.idempotencyWaitMsMax, log }),
  handle,
  description: DESCRIPTION,
} as const satisfies ApiOperation<PendingMovement, TransactionAnswer>;

/**
 * The answers of a write that takes an Idempotency-Key (a transaction, a transfer): 200 with its result, and the
 * failures every such write shares around `refusals`, its own (the body's fields and the money rules).
 */
export function keyedWriteResponses(resultSchema: object, refused: string, refusals: Failure[]) {
  return {
    200: json(resultSchema, `Applied (or, with ${REPLAYED_HEADER}, applied by an earlier request with the same key).`, {
      headers: REPLAYED_HEADERS,
    }),
    ...errorResponses(
      [
        failures.clientNotFound,
        failures.idempotencyKeyInUse,
        failures.bodyTooLarge,
        failures.malformedJson,
        failures.notAnObject,
        ...refusals,
        failures.invalidIdempotencyKey,
        failures.idempotencyKeyReused,
        failures.duplicateIdempotencyKey,
        failures.rejectedByDatabase,
        failures.clientBusy,
        ...UNAVAILABLE,
        ...WRITE_AUTH,
      ],
      {
        ...UNAVAILABLE_NOTES,
        ...AUTH_NOTES,
        409: {
          note: 'Nothing was applied by this request; retry it with the same key once the first has finished',
          headers: RETRY_AFTER_HEADERS,
        },
        413: { note: 'nginx may answer it first, with its own page' },
        422: {
          note:
            `A refused ${refused} with a key is stored like a success: its retries replay the same 422, ` +
            `marked ${REPLAYED_HEADER}`,
          headers: REPLAYED_HEADERS,
        },
      },
    ),
  };
}

/**
 * What every keyed write (a transaction, a transfer) reads before its body: the client, the API key's write access
 * to it, the Idempotency-Key; or the first of them refused, in that order of precedence.
 */
export function readKeyedWrite(context: RouteContext, request: HttpRequest) {
  const clientId = parseClientId(request.getParameter(0));
  const apiKey = authorize(
    context.ledger.apiKeys,
    request.getHeader('authorization'),
    clientId,
    'write',
    request.getHeader('x-real-ip'),
  );
  const header = readIdempotencyKeyHeader(request);
  const idempotencyKey = header instanceof Failure ? header : parseIdempotencyKey(header);
  if (apiKey instanceof Failure) return apiKey;
  if (clientId === undefined) return failures.clientNotFound;
  if (idempotencyKey instanceof Failure) return idempotencyKey;
  return { clientId, apiKey, idempotencyKey };
}
