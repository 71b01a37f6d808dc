// Declares POST /clientes/{id}/transferencias, crebito's own: client {id}
// pays client `para`. Validated as a transaction is (valor, descricao, the
// Idempotency-Key, the API key's write scope on the payer; the payee needs
// nothing). Its requests join the transactions' calls (callsOf), so one
// commit may hold both; the call and how its rows become answers are in
// ledger/transfers.ts, the SQL in sql/09-transfers.sql.

import { Failure, failures } from '../../shared/failures.js';
import { CLIENT_ID_MAX } from '../../shared/limits.js';
import { AUTH_SECURITY, OWN } from '../http/api-description.js';
import { readBody } from '../http/body.js';
import type { Exchange } from '../http/exchange.js';
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER } from '../http/headers.js';
import { replyFailure, replyWith } from '../http/replies.js';
import { compile, object, TRANSACTION_REQUEST_SCHEMA, cents } from '../http/serializers.js';
import { isAmount, isDescription, parseJsonObject } from '../http/validation.js';
import { Replay } from '../ledger/transactions.js';
import {
  sendAny,
  type MovementAnswer,
  type PendingMovement,
  type TransferRequest,
  type TransferResult,
} from '../ledger/transfers.js';
import type { ApiOperation, Handle, RouteContext } from './declaration.js';
import { keyedWriteResponses, readKeyedWrite, TRANSACTIONS } from './transactions.js';

const REPLAYED = [[REPLAYED_HEADER.toLowerCase(), 'true']] as const;

/** The outcomes that refuse a transfer by the money rules (counted as refused, not as errors). */
const REFUSALS: readonly Failure[] = [failures.limitExceeded, failures.payeeBalanceTooLarge, failures.payeeNotFound];

export const TRANSFER_REQUEST_SCHEMA = object(['para', 'valor', 'descricao'], {
  para: { type: 'integer', minimum: 1, maximum: CLIENT_ID_MAX, description: 'the client paid (not the payer itself)' },
  valor: TRANSACTION_REQUEST_SCHEMA.properties.valor!,
  descricao: TRANSACTION_REQUEST_SCHEMA.properties.descricao!,
});

export const TRANSFER_RESULT_SCHEMA = object(['limite', 'saldo', 'transferencia'], {
  limite: cents("the payer's credit limit"),
  saldo: cents("the payer's balance right after this transfer (never below -limite)"),
  transferencia: {
    type: 'integer',
    minimum: 1,
    description: "the transfer's id, shown on both sides' rows in the history",
  },
});

const serializeTransferResult = compile<TransferResult>(TRANSFER_RESULT_SCHEMA);

export function parseTransferBody(body: Uint8Array, payerId: number): TransferRequest | Failure {
  const value = parseJsonObject(body);
  if (value instanceof Failure) return value;
  const { para, valor, descricao } = value;
  const isClientId = typeof para === 'number' && Number.isInteger(para) && para >= 1 && para <= CLIENT_ID_MAX;
  if (!isClientId) return failures.invalidPara;
  if (!isAmount(valor, body)) return failures.invalidValor;
  if (!isDescription(descricao)) return failures.invalidDescricao;
  if (para === payerId) return failures.transferToSelf;
  return { para, valor, descricao };
}

/** A replayed outcome is written exactly as the first time, marked; only a first outcome is counted. */
function replyTransfer(context: RouteContext, exchange: Exchange, answer: MovementAnswer): void {
  if (answer instanceof Replay) {
    const replayed = answer.answer as TransferResult | Failure;
    return replyWith(context.book, exchange, replayed, serializeTransferResult, REPLAYED);
  }
  if (!(answer instanceof Failure)) context.metrics.transfer('applied');
  else if (REFUSALS.includes(answer)) context.metrics.transfer('refused');
  replyWith(context.book, exchange, answer as TransferResult | Failure, serializeTransferResult);
}

const handle: Handle<PendingMovement, MovementAnswer> = (context, exchange, request, submit) => {
  const { book } = context;
  const write = readKeyedWrite(context, request);
  // The body is read first even when the request is refused: answering
  // before it would leave its bytes on the connection.
  const onBody = (body: Uint8Array) => {
    if (write instanceof Failure) return replyFailure(book, exchange, write);
    const { clientId, apiKey, idempotencyKey } = write;
    const transfer = parseTransferBody(body, clientId);
    if (transfer instanceof Failure) return replyFailure(book, exchange, transfer);
    book.replyAfter(exchange, submit({ clientId, transfer, idempotencyKey, apiKeyProof: apiKey?.proof }), (answer) =>
      replyTransfer(context, exchange, answer),
    );
  };
  const tooLarge = () => replyFailure(book, exchange, failures.bodyTooLarge);
  readBody(exchange, request.getHeader('content-length'), onBody, tooLarge);
};

const DESCRIPTION = {
  operationId: 'transferir',
  tags: [OWN],
  summary: 'Pay another client',
  description: [
    'Moves `valor` from the client in the path (the payer) to the client `para` (the payee), both or neither:',
    "one database transaction writes the payer's debit and the payee's credit, two rows naming one transfer id.",
    "Refused (422, nothing moves) when the payer's balance would fall below `-limite`,",
    'when `para` names no client or the payer itself,',
    "or when the payee's balance would pass the largest exact integer;",
    "the payee's limit plays no part.",
    "Each client's statement keeps the contract's shape:",
    'the payer sees a `d`, the payee a `c`, with the same descricao;',
    'the history shows both rows with `transferencia` and `contraparte`.',
    `${IDEMPOTENCY_KEY_HEADER} works as for a transaction, in the payer's keys`,
    '(a key used for a transaction is refused for a transfer, and the other way round).',
    'With API keys on, the key needs write scope on the payer; the payee needs nothing.',
  ].join(' '),
  parameters: TRANSACTIONS.description.parameters,
  security: AUTH_SECURITY,
  requestBody: {
    required: true,
    content: {
      'application/json': { schema: TRANSFER_REQUEST_SCHEMA, example: { para: 2, valor: 1000, descricao: 'pix' } },
    },
  },
  responses: keyedWriteResponses(TRANSFER_RESULT_SCHEMA, 'transfer', [
    failures.invalidPara,
    failures.invalidValor,
    failures.invalidDescricao,
    failures.transferToSelf,
    failures.payeeNotFound,
    failures.limitExceeded,
    failures.payeeBalanceTooLarge,
  ]),
};

export const TRANSFERS = {
  method: 'post',
  path: '/clientes/:id/transferencias',
  label: 'transferencias',
  access: 'write',
  // Sent in the transactions' calls: their batcher, queue, slots and query (ledger/transfers.ts).
  callsOf: TRANSACTIONS.label,
  connections: TRANSACTIONS.connections,
  queries: [],
  sizeMax: TRANSACTIONS.sizeMax,
  send: (batch, { database, log, settings }) =>
    sendAny(database, batch, { idempotencyKeyWaitMsMax: settings.idempotencyWaitMsMax, log }),
  handle,
  description: DESCRIPTION,
} as const satisfies ApiOperation<PendingMovement, MovementAnswer>;
