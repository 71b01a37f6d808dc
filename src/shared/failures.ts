// Owns the catalogue of answers that are not a success: each expected outcome
// with its HTTP status and the short JSON body a human reads. Handlers return
// these; they never build error responses by hand. The database's refusal
// reasons (sql/00-rules.sql, sql/03-functions.sql) are codes of this same
// catalogue, looked up by failureForCode. A broken invariant is not in this
// list: it is a bug, and `invariant` (invariant.ts) crashes the process loudly.
// Both programs read it: the instance answers with it, and the launcher
// renders nginx's own refusals from it.

import {
  CLIENT_ID_MAX,
  DESCRIPTION_CHARACTERS_MAX,
  HISTORY_PAGE_ROWS_MAX,
  IDEMPOTENCY_KEY_CHARACTERS_MAX,
  AMOUNT_MAX,
} from './limits.js';

/** The realm of the Bearer challenge (WWW-Authenticate) when API keys are on. */
export const AUTH_REALM = 'crebito';

/** Seconds a client is asked to wait before retrying a 503 (Retry-After). */
export const RETRY_AFTER_SECONDS = 1;

/** A response header beyond the ones every reply carries. */
export type Header = readonly [name: string, value: string];

/** Every HTTP status line crebito writes (uWebSockets.js writes the line as given), each declared once. */
export const STATUS = {
  ok: '200 OK',
  unauthorized: '401 Unauthorized',
  forbidden: '403 Forbidden',
  notFound: '404 Not Found',
  methodNotAllowed: '405 Method Not Allowed',
  conflict: '409 Conflict',
  payloadTooLarge: '413 Payload Too Large',
  unprocessable: '422 Unprocessable Entity',
  badRequest: '400 Bad Request',
  uriTooLong: '414 URI Too Long',
  tooManyRequests: '429 Too Many Requests',
  headersTooLarge: '431 Request Header Fields Too Large',
  internalError: '500 Internal Server Error',
  badGateway: '502 Bad Gateway',
  unavailable: '503 Service Unavailable',
  gatewayTimeout: '504 Gateway Timeout',
} as const;

/** What every answer that asks the client to come back later carries. */
export const RETRY_LATER: readonly Header[] = [['retry-after', String(RETRY_AFTER_SECONDS)]];

export interface FailureOptions {
  /** For answers that come from the database side: could the transaction have been applied anyway? */
  mayHaveBeenApplied?: boolean;
  /** Response headers beside content-type. */
  headers?: readonly Header[];
}

/** A failure's status code alone ('422'), as the API description and nginx's `return` write it. */
export const statusCodeOf = (failure: Failure): string => failure.status.slice(0, 3);

export class Failure {
  /** The response body, built once here rather than on every request. */
  readonly body: string;
  readonly headers: readonly Header[];

  constructor(
    /** The HTTP status line uWebSockets.js writes, e.g. '422 Unprocessable Entity'. */
    readonly status: string,
    readonly code: string,
    readonly message: string,
    options: FailureOptions = {},
  ) {
    this.body = JSON.stringify(
      options.mayHaveBeenApplied === undefined
        ? { erro: code, mensagem: message }
        : { erro: code, mensagem: message, pode_ter_sido_aplicada: options.mayHaveBeenApplied },
    );
    this.headers = options.headers ?? [];
    Object.freeze(this);
  }
}

export const failures = {
  clientNotFound: new Failure(STATUS.notFound, 'cliente_nao_encontrado', 'no such client'),
  routeNotFound: new Failure(STATUS.notFound, 'rota_nao_encontrada', 'no such route'),
  limitExceeded: new Failure(STATUS.unprocessable, 'limite_excedido', 'the debit would take the balance below -limite'),
  balanceTooLarge: new Failure(
    STATUS.unprocessable,
    'saldo_excedido',
    'the credit would take the balance past the largest exact integer',
  ),
  // Transfers (POST /clientes/{id}/transferencias): the payer is the path's
  // client (404 when unknown, as everywhere); the payee is a field of the body.
  invalidPara: new Failure(
    STATUS.unprocessable,
    'para_invalido',
    `para must be a client id: a whole number from 1 to ${CLIENT_ID_MAX}`,
  ),
  transferToSelf: new Failure(
    STATUS.unprocessable,
    'transferencia_para_si',
    'para names the paying client itself; nothing was applied',
  ),
  payeeNotFound: new Failure(
    STATUS.unprocessable,
    'destinatario_nao_encontrado',
    'para names no client (the payee is unknown; the payer exists); nothing was applied',
  ),
  payeeBalanceTooLarge: new Failure(
    STATUS.unprocessable,
    'saldo_destinatario_excedido',
    "the transfer would take the payee's balance past the largest exact integer; nothing was applied",
  ),
  malformedJson: new Failure(STATUS.unprocessable, 'json_invalido', 'the body is not one JSON value'),
  notAnObject: new Failure(STATUS.unprocessable, 'corpo_invalido', 'the body must be a JSON object'),
  invalidValor: new Failure(
    STATUS.unprocessable,
    'valor_invalido',
    `valor must be a whole number from 1 to ${AMOUNT_MAX}, written as plain digits (no fraction, no exponent)`,
  ),
  invalidTipo: new Failure(STATUS.unprocessable, 'tipo_invalido', 'tipo must be "c" or "d"'),
  invalidDescricao: new Failure(
    STATUS.unprocessable,
    'descricao_invalida',
    `descricao must be a string of 1 to ${DESCRIPTION_CHARACTERS_MAX} characters, none of them a control or invisible` +
      ' character (such as a newline, a zero-width space or a direction override)',
  ),
  bodyTooLarge: new Failure(STATUS.payloadTooLarge, 'corpo_grande_demais', 'the body is larger than the limit'),
  // Answered by nginx, before any instance sees the request (nginx/nginx.conf.template).
  headersTooLarge: new Failure(
    STATUS.headersTooLarge,
    'cabecalhos_grandes_demais',
    'the request headers are larger than the limit',
  ),
  tooManyRequests: new Failure(
    STATUS.tooManyRequests,
    'muitas_requisicoes',
    'this client (its API key, or its address without keys) sends more requests per second than allowed; retry later',
    { headers: RETRY_LATER },
  ),
  badRequest: new Failure(
    STATUS.badRequest,
    'requisicao_invalida',
    'the request is not valid HTTP/1.1 (for example, both Content-Length and Transfer-Encoding); nothing was applied',
  ),
  // Answered by nginx for a method outside HTTP's nine (PROPFIND, say): the
  // instances' parser cannot read one, and drops the connection.
  unknownMethod: new Failure(
    STATUS.methodNotAllowed,
    'metodo_desconhecido',
    'the API answers GET, HEAD and POST only; nothing was applied',
    { headers: [['allow', 'GET, HEAD, POST']] },
  ),
  // Answered by nginx on PORT when CREBITO_PLAIN_HTTP=refuse: the request was not passed on.
  httpsRequired: new Failure(
    STATUS.forbidden,
    'https_obrigatorio',
    'this service answers only over HTTPS (see CREBITO_TLS_PORT); nothing was applied',
  ),
  uriTooLong: new Failure(
    STATUS.uriTooLong,
    'endereco_grande_demais',
    'the request line is longer than the limit; nothing was applied',
  ),
  // Answered by nginx when the instance a request was sent to failed or went
  // silent, and the request could not safely be sent to another (an unkeyed POST).
  instanceFailed: new Failure(
    STATUS.badGateway,
    'instancia_falhou',
    'the instance serving this request failed before answering; a transaction may or may not have been applied' +
      ' (retry it with the same Idempotency-Key to find out)',
    { mayHaveBeenApplied: true, headers: RETRY_LATER },
  ),
  instanceTimedOut: new Failure(
    STATUS.gatewayTimeout,
    'instancia_sem_resposta',
    'the instance serving this request did not answer in time; a transaction may or may not have been applied' +
      ' (retry it with the same Idempotency-Key to find out)',
    { mayHaveBeenApplied: true, headers: RETRY_LATER },
  ),
  rejectedByDatabase: new Failure(
    STATUS.internalError,
    'erro_interno',
    'the database refused this request although it passed validation; nothing was applied',
    { mayHaveBeenApplied: false },
  ),
  overloaded: new Failure(
    STATUS.unavailable,
    'sobrecarregado',
    'too many requests are waiting for the database; this one was not sent, so nothing was applied',
    { mayHaveBeenApplied: false, headers: RETRY_LATER },
  ),
  databaseDown: new Failure(
    STATUS.unavailable,
    'banco_indisponivel',
    'the database is not answering; this request was not sent, so nothing was applied',
    { mayHaveBeenApplied: false, headers: RETRY_LATER },
  ),
  // Another database session (a DBA's query, a migration, a report) holds
  // this client's row: the request was sent again until its queue wait ran
  // out, never waiting on the row, and every attempt changed nothing.
  clientBusy: new Failure(
    STATUS.unavailable,
    'cliente_ocupado',
    "another database session holds this client's account; nothing was applied (retry later)",
    { mayHaveBeenApplied: false, headers: RETRY_LATER },
  ),
  databaseUnanswered: new Failure(
    STATUS.unavailable,
    'banco_sem_resposta',
    'the database did not answer in time; a transaction may or may not have been applied (retry it with the same Idempotency-Key to find out)',
    { mayHaveBeenApplied: true, headers: RETRY_LATER },
  ),
  // A read changes nothing, so its timeout must not speak of a transaction
  // that may have been applied: the answer is simply to retry.
  readUnanswered: new Failure(
    STATUS.unavailable,
    'leitura_sem_resposta',
    'the database did not answer this read in time; a read changes nothing, so retry it',
    { mayHaveBeenApplied: false, headers: RETRY_LATER },
  ),
  duplicateIdempotencyKey: new Failure(
    STATUS.badRequest,
    'chave_idempotencia_duplicada',
    'the request carries more than one Idempotency-Key header; nothing was applied (send exactly one)',
  ),
  invalidIdempotencyKey: new Failure(
    STATUS.unprocessable,
    'chave_idempotencia_invalida',
    `Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_CHARACTERS_MAX} visible ASCII characters`,
  ),
  idempotencyKeyReused: new Failure(
    STATUS.unprocessable,
    'chave_idempotencia_reutilizada',
    'this Idempotency-Key was first used with another valor, tipo or descricao; nothing was applied (a new request needs a new key)',
  ),
  idempotencyKeyInUse: new Failure(
    STATUS.conflict,
    'chave_idempotencia_em_uso',
    'a request with this Idempotency-Key is still running; nothing was applied by this one (retry it later)',
    { headers: RETRY_LATER },
  ),
  unknownParameter: new Failure(
    STATUS.unprocessable,
    'parametro_desconhecido',
    'the history takes limit, before, tipo, desde, ate, valor_min and valor_max, each at most once',
  ),
  invalidLimit: new Failure(
    STATUS.unprocessable,
    'limit_invalido',
    `limit must be a whole number from 1 to ${HISTORY_PAGE_ROWS_MAX}`,
  ),
  invalidCursor: new Failure(
    STATUS.unprocessable,
    'cursor_invalido',
    "before must be the next value of a page of this client's history, unchanged",
  ),
  invalidTime: new Failure(
    STATUS.unprocessable,
    'data_invalida',
    'desde and ate must be ISO 8601 times with a zone, e.g. 2024-01-17T02:34:41.217753Z',
  ),
  invalidValorFilter: new Failure(
    STATUS.unprocessable,
    'filtro_valor_invalido',
    `valor_min and valor_max must be whole numbers from 1 to ${AMOUNT_MAX}`,
  ),
  invertedRange: new Failure(
    STATUS.unprocessable,
    'intervalo_invertido',
    'desde must not be after ate, nor valor_min above valor_max',
  ),
  // CREBITO_AUTH=keys (src/instance/http/auth.ts). The challenge follows
  // RFC 6750: no error attribute when no key came, invalid_token for a key
  // that is not one in force, insufficient_scope for a key that may not.
  apiKeyMissing: new Failure(
    STATUS.unauthorized,
    'autenticacao_necessaria',
    'this route needs an API key: Authorization: Bearer <key>; nothing was applied',
    { headers: [['www-authenticate', `Bearer realm="${AUTH_REALM}"`]] },
  ),
  apiKeyInvalid: new Failure(
    STATUS.unauthorized,
    'chave_api_invalida',
    'the API key is unknown, revoked or expired; nothing was applied',
    { headers: [['www-authenticate', `Bearer realm="${AUTH_REALM}", error="invalid_token"`]] },
  ),
  clientForbidden: new Failure(
    STATUS.forbidden,
    'cliente_nao_permitido',
    'this API key may not act on this client; nothing was applied',
    { headers: [['www-authenticate', `Bearer realm="${AUTH_REALM}", error="insufficient_scope"`]] },
  ),
  readOnlyKey: new Failure(
    STATUS.forbidden,
    'chave_somente_leitura',
    'this API key may only read; nothing was applied',
    { headers: [['www-authenticate', `Bearer realm="${AUTH_REALM}", error="insufficient_scope", scope="write"`]] },
  ),
} as const;

/** 405 for a known path asked with another method; `allow` lists the methods it answers. */
export function methodNotAllowed(allow: readonly string[]): Failure {
  return new Failure(STATUS.methodNotAllowed, 'metodo_nao_permitido', `this path answers ${allow.join(', ')}`, {
    headers: [['allow', allow.join(', ')]],
  });
}

const failureByCode = new Map<string, Failure>(Object.values(failures).map((failure) => [failure.code, failure]));

/** The failure a database outcome code names, or undefined for a code the catalogue does not know. */
export function failureForCode(code: string): Failure | undefined {
  return failureByCode.get(code);
}
