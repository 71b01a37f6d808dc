// Owns POST /clientes/{id}/transferencias: client {id} pays client `para`.
// Validated as a transaction is (valor, descricao, the Idempotency-Key, the
// API key's write scope on the payer; the payee needs nothing), then one
// ledger call that shares the transactions' queue and commits
// (ledger/transfers.ts). Parsing is pure, bytes in, a value or a Failure
// out, so its cases are tested without a server.

import { CLIENT_ID_MAX } from '../../shared/limits.js';
import { Failure, failures } from '../../shared/failures.js';
import type { AnswerOf, Ledger } from '../ledger/ledger.js';
import { Replay } from '../ledger/transactions.js';
import type { TransferRequest, TransferResult } from '../ledger/transfers.js';
import { authorize } from './auth.js';
import { readBody } from './body.js';
import type { Exchange, RequestBook } from './exchange.js';
import { readIdempotencyKeyHeader, REPLAYED_HEADER } from './headers.js';
import { replyFailure, replyWith } from './replies.js';
import { serializeTransferResult } from './serializers.js';
import type { HttpRequest } from './uws.js';
import { isDescricao, isValor, parseClientId, parseIdempotencyKey, parseJsonObject } from './validation.js';

/** What the handler needs of the routes' context (routes.ts lists this route). */
interface TransferContext {
  ledger: Ledger;
  book: RequestBook;
  metrics: { transfer(result: 'applied' | 'refused'): void };
}

const REPLAYED = [[REPLAYED_HEADER.toLowerCase(), 'true']] as const;

/** The outcomes that refuse a transfer by the money rules (counted as refused, not as errors). */
const REFUSALS: readonly Failure[] = [failures.limitExceeded, failures.payeeBalanceTooLarge, failures.payeeNotFound];

export function parseTransferBody(body: Uint8Array, payerId: number): TransferRequest | Failure {
  const value = parseJsonObject(body);
  if (value instanceof Failure) return value;
  const { para, valor, descricao } = value;
  const isClientId = typeof para === 'number' && Number.isInteger(para) && para >= 1 && para <= CLIENT_ID_MAX;
  if (!isClientId) return failures.invalidPara;
  if (!isValor(valor, body)) return failures.invalidValor;
  if (!isDescricao(descricao)) return failures.invalidDescricao;
  if (para === payerId) return failures.transferToSelf;
  return { para, valor, descricao };
}

/** A replayed outcome is written exactly as the first time, marked; only a first outcome is counted. */
function replyTransfer(context: TransferContext, exchange: Exchange, answer: AnswerOf<'transactions'>): void {
  if (answer instanceof Replay) {
    const replayed = answer.answer as TransferResult | Failure;
    return replyWith(context.book, exchange, replayed, serializeTransferResult, REPLAYED);
  }
  if (!(answer instanceof Failure)) context.metrics.transfer('applied');
  else if (REFUSALS.includes(answer)) context.metrics.transfer('refused');
  replyWith(context.book, exchange, answer as TransferResult | Failure, serializeTransferResult);
}

export function postTransfer(context: TransferContext, exchange: Exchange, request: HttpRequest): void {
  const { ledger, book } = context;
  const clientId = parseClientId(request.getParameter(0));
  const apiKey = authorize(ledger.apiKeys, request.getHeader('authorization'), clientId, 'write');
  const header = readIdempotencyKeyHeader(request);
  const key = header instanceof Failure ? header : parseIdempotencyKey(header);
  // The body is read first even when the request is refused: answering
  // before it would leave its bytes on the connection.
  const onBody = (body: Uint8Array) => {
    if (apiKey instanceof Failure) return replyFailure(book, exchange, apiKey);
    if (clientId === undefined) return replyFailure(book, exchange, failures.clientNotFound);
    if (key instanceof Failure) return replyFailure(book, exchange, key);
    const transfer = parseTransferBody(body, clientId);
    if (transfer instanceof Failure) return replyFailure(book, exchange, transfer);
    book.replyAfter(exchange, ledger.submit('transactions', { clientId, transfer, key, apiKeyId: apiKey?.id }),
      (answer) => replyTransfer(context, exchange, answer));
  };
  const tooLarge = () => replyFailure(book, exchange, failures.bodyTooLarge);
  readBody(exchange, request.getHeader('content-length'), onBody, tooLarge);
}
