// Owns the catalogue of answers that are not a success: each expected outcome
// with its HTTP status and the short JSON body a human reads. Handlers return
// these; they never build error responses by hand. The database's refusal
// reasons (sql/00-rules.sql, sql/03-functions.sql) are codes of this same
// catalogue, looked up by failureForCode. A broken invariant is not in this
// list: it is a bug, and `invariant` crashes the process loudly.

import { DESCRICAO_CHARACTERS_MAX, VALOR_MAX } from '../shared/contract.js';
import { HISTORY_PAGE_ROWS_MAX, IDEMPOTENCY_KEY_CHARACTERS_MAX } from './api-limits.js';

/** Seconds a client is asked to wait before retrying a 503 (Retry-After). */
export const RETRY_AFTER_SECONDS = 1;

export interface FailureOptions {
  /** For answers that come from the database side: could the transaction have been applied anyway? */
  mayHaveBeenApplied?: boolean;
  /** Response headers beside content-type. */
  headers?: readonly (readonly [string, string])[];
}

export class Failure {
  /** The response body, built once here rather than on every request. */
  readonly body: string;
  readonly headers: readonly (readonly [string, string])[];

  constructor(
    /** The HTTP status line uWebSockets.js writes, e.g. '422 Unprocessable Entity'. */
    readonly status: string,
    readonly code: string,
    readonly message: string,
    options: FailureOptions = {},
  ) {
    this.body = JSON.stringify(options.mayHaveBeenApplied === undefined
      ? { erro: code, mensagem: message }
      : { erro: code, mensagem: message, pode_ter_sido_aplicada: options.mayHaveBeenApplied });
    this.headers = options.headers ?? [];
    Object.freeze(this);
  }
}

const UNPROCESSABLE = '422 Unprocessable Entity';
const UNAVAILABLE = '503 Service Unavailable';
const RETRY_LATER = [['retry-after', String(RETRY_AFTER_SECONDS)]] as const;

export const failures = {
  clientNotFound: new Failure('404 Not Found', 'cliente_nao_encontrado', 'no such client'),
  routeNotFound: new Failure('404 Not Found', 'rota_nao_encontrada', 'no such route'),
  limitExceeded: new Failure(UNPROCESSABLE, 'limite_excedido', 'the debit would take the balance below -limite'),
  balanceTooLarge: new Failure(UNPROCESSABLE, 'saldo_excedido', 'the credit would take the balance past the largest exact integer'),
  malformedJson: new Failure(UNPROCESSABLE, 'json_invalido', 'the body is not one JSON value'),
  notAnObject: new Failure(UNPROCESSABLE, 'corpo_invalido', 'the body must be a JSON object'),
  invalidValor: new Failure(UNPROCESSABLE, 'valor_invalido', `valor must be a whole number from 1 to ${VALOR_MAX}`),
  invalidTipo: new Failure(UNPROCESSABLE, 'tipo_invalido', 'tipo must be "c" or "d"'),
  invalidDescricao: new Failure(UNPROCESSABLE, 'descricao_invalida', `descricao must be a string of 1 to ${DESCRICAO_CHARACTERS_MAX} characters`),
  bodyTooLarge: new Failure('413 Payload Too Large', 'corpo_grande_demais', 'the body is larger than the limit'),
  // Answered by nginx, before any instance sees the request (nginx/nginx.conf.template).
  headersTooLarge: new Failure('431 Request Header Fields Too Large', 'cabecalhos_grandes_demais', 'the request headers are larger than the limit'),
  tooManyRequests: new Failure('429 Too Many Requests', 'muitas_requisicoes', 'this address sends more requests per second than allowed; retry later', { headers: RETRY_LATER }),
  badRequest: new Failure('400 Bad Request', 'requisicao_invalida', 'the request is not valid HTTP/1.1 (for example, both Content-Length and Transfer-Encoding); nothing was applied'),
  uriTooLong: new Failure('414 URI Too Long', 'endereco_grande_demais', 'the request line is longer than the limit; nothing was applied'),
  // Answered by nginx when the instance a request was sent to failed or went
  // silent, and the request could not safely be sent to another (an unkeyed POST).
  instanceFailed: new Failure('502 Bad Gateway', 'instancia_falhou', 'the instance serving this request failed before answering; a transaction may or may not have been applied (retry it with the same Idempotency-Key to find out)', { mayHaveBeenApplied: true, headers: RETRY_LATER }),
  instanceTimedOut: new Failure('504 Gateway Timeout', 'instancia_sem_resposta', 'the instance serving this request did not answer in time; a transaction may or may not have been applied (retry it with the same Idempotency-Key to find out)', { mayHaveBeenApplied: true, headers: RETRY_LATER }),
  rejectedByDatabase: new Failure('500 Internal Server Error', 'erro_interno', 'the database refused this request although it passed validation; nothing was applied', { mayHaveBeenApplied: false }),
  overloaded: new Failure(UNAVAILABLE, 'sobrecarregado', 'too many requests are waiting for the database; this one was not sent, so nothing was applied', { mayHaveBeenApplied: false, headers: RETRY_LATER }),
  databaseDown: new Failure(UNAVAILABLE, 'banco_indisponivel', 'the database is not answering; this request was not sent, so nothing was applied', { mayHaveBeenApplied: false, headers: RETRY_LATER }),
  databaseUnavailable: new Failure(UNAVAILABLE, 'banco_sem_resposta', 'the database did not answer in time; a transaction may or may not have been applied (retry it with the same Idempotency-Key to find out)', { mayHaveBeenApplied: true, headers: RETRY_LATER }),
  invalidIdempotencyKey: new Failure(UNPROCESSABLE, 'chave_idempotencia_invalida', `Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_CHARACTERS_MAX} visible ASCII characters`),
  idempotencyKeyReused: new Failure(UNPROCESSABLE, 'chave_idempotencia_reutilizada', 'this Idempotency-Key was first used with another valor, tipo or descricao; nothing was applied (a new request needs a new key)'),
  idempotencyKeyInUse: new Failure('409 Conflict', 'chave_idempotencia_em_uso', 'a request with this Idempotency-Key is still running; nothing was applied by this one (retry it later)', { headers: RETRY_LATER }),
  unknownParameter: new Failure(UNPROCESSABLE, 'parametro_desconhecido', 'the history takes limit, before, tipo, desde, ate, valor_min and valor_max, each at most once'),
  invalidLimit: new Failure(UNPROCESSABLE, 'limit_invalido', `limit must be a whole number from 1 to ${HISTORY_PAGE_ROWS_MAX}`),
  invalidCursor: new Failure(UNPROCESSABLE, 'cursor_invalido', 'before must be the next value of a page of this client\'s history, unchanged'),
  invalidTime: new Failure(UNPROCESSABLE, 'data_invalida', 'desde and ate must be ISO 8601 times with a zone, e.g. 2024-01-17T02:34:41.217753Z'),
  invalidValorFilter: new Failure(UNPROCESSABLE, 'filtro_valor_invalido', `valor_min and valor_max must be whole numbers from 1 to ${VALOR_MAX}`),
  invertedRange: new Failure(UNPROCESSABLE, 'intervalo_invertido', 'desde must not be after ate, nor valor_min above valor_max'),
} as const;

/** 405 for a known path asked with another method; `allow` lists the methods it answers. */
export function methodNotAllowed(allow: readonly string[]): Failure {
  return new Failure('405 Method Not Allowed', 'metodo_nao_permitido', `this path answers ${allow.join(', ')}`, { headers: [['allow', allow.join(', ')]] });
}

const failureByCode = new Map<string, Failure>(Object.values(failures).map((failure) => [failure.code, failure]));

/** The failure a database outcome code names, or undefined for a code the catalogue does not know. */
export function failureForCode(code: string): Failure | undefined {
  return failureByCode.get(code);
}

export class InvariantError extends Error {
  override name = 'InvariantError';
}

/** Asserts something that can only be false through a bug; never use it for input. */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/**
 * Crashes the process with a bug found after an await. Rethrowing on a fresh
 * macrotask turns it into an uncaught exception, with its stack, instead of
 * a promise rejection somebody might swallow.
 */
export function crashOnBug(error: unknown): void {
  setImmediate(() => {
    throw error;
  });
}
