// Owns the OpenAPI 3.1 description of the whole API, served at
// GET /openapi.json and kept in the repository as openapi.json (a test holds
// the file to this; `npm run generate` rewrites it). It is built from the
// facts it describes, each read from where it is declared: the bodies are
// the serializers' schemas, every error body comes from the catalogue
// (shared/failures.ts) with its exact text as an example, every bound is the
// constant the validation uses, header names and settings are named by their
// constants. test/instance/openapi.test.ts validates real
// responses against it.

import { HISTORY_PAGE_ROWS_DEFAULT, HISTORY_PAGE_ROWS_MAX, HISTORY_SCAN_ROWS_MAX, IDEMPOTENCY_KEY_CHARACTERS_MAX, VALOR_MAX } from '../../shared/limits.js';
import { SETTINGS } from '../../shared/settings.js';
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER } from './headers.js';
import { failures, statusCodeOf, type Failure } from '../../shared/failures.js';
import { HISTORY_PAGE_SCHEMA, STATEMENT_SCHEMA, TRANSACTION_REQUEST_SCHEMA, TRANSACTION_RESULT_SCHEMA } from './serializers.js';

/** The API's own version, not the package's: 1.0 was the contract alone; 1.1 adds idempotency keys and the history; 1.2 the probes, 405, and 503s that say whether anything was applied. */
const API_VERSION = '1.2.0';

const SECONDS_PER_HOUR = 3600;


/** What an operation says about one of its error statuses beyond the codes: a note, and headers. */
type StatusNotes = Record<string, { note: string; headers?: object }>;

/** The error responses of an operation, one per status, each listing its codes and their exact bodies. */
function errorResponses(list: Failure[], notes: StatusNotes = {}): Record<string, object> {
  const byStatus = new Map<string, Failure[]>();
  for (const failure of list) byStatus.set(statusCodeOf(failure), [...(byStatus.get(statusCodeOf(failure)) ?? []), failure]);
  const responses: Record<string, object> = {};
  for (const [status, group] of byStatus) {
    const reason = group[0]!.status.slice(4);
    responses[status] = {
      description: `${reason}: ${group.map((failure) => `\`${failure.code}\``).join(', ')}${notes[status] ? `. ${notes[status].note}` : ''}`,
      ...(notes[status]?.headers === undefined ? {} : { headers: notes[status].headers }),
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['erro', 'mensagem'],
            properties: {
              erro: { type: 'string', enum: group.map((failure) => failure.code) },
              mensagem: { type: 'string' },
              pode_ter_sido_aplicada: { type: 'boolean', description: 'on answers from the database side: whether the transaction may have been applied anyway' },
            },
          },
          examples: Object.fromEntries(group.map((failure) => [failure.code, { value: JSON.parse(failure.body) as object }])),
        },
      },
    };
  }
  return responses;
}

const json = (schema: object, description: string, extra: object = {}) => ({ description, ...extra, content: { 'application/json': { schema } } });

const CLIENT_ID = { name: 'id', in: 'path', required: true, description: 'the client (1 to 5 are seeded; anything else answers 404)', schema: { type: 'integer', minimum: 1 } };

const RETRY_AFTER_HEADERS = {
  'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'string' } },
};

/** The statuses every operation can get from the database side or from nginx, each with what it means. */
const UNAVAILABLE_NOTES: StatusNotes = {
  429: { note: `From nginx, only when ${SETTINGS.rateLimitPerS.env} is set: nothing was applied`, headers: RETRY_AFTER_HEADERS },
  431: { note: 'From nginx: the request headers are larger than 4 × 8 KiB' },
  502: {
    note: 'From nginx, when the instance serving the request failed before answering and the request could not go to another: '
      + 'an unkeyed POST (never sent twice) or any request when every instance failed. A transaction\'s outcome is then unknown: retry it with its key',
    headers: RETRY_AFTER_HEADERS,
  },
  503: {
    note: `\`${failures.overloaded.code}\` and \`${failures.databaseDown.code}\`: never sent, nothing was applied; \`${failures.databaseUnavailable.code}\`: a transaction sent and unanswered in time, `
      + `so it may have been applied (retry it with the same key); \`${failures.readUnanswered.code}\`: a read unanswered in time (a read changes nothing). \`pode_ter_sido_aplicada\` says which.`,
    headers: RETRY_AFTER_HEADERS,
  },
  504: {
    note: 'From nginx, when the instance serving the request did not answer by its deadline and the request could not go to another (as for 502)',
    headers: RETRY_AFTER_HEADERS,
  },
};
/** Answers every operation may get from nginx or from the database side; the last is each kind's timeout. */
const FROM_NGINX_OR_DATABASE = [failures.tooManyRequests, failures.headersTooLarge, failures.instanceFailed, failures.instanceTimedOut, failures.overloaded, failures.databaseDown];
const UNAVAILABLE = [...FROM_NGINX_OR_DATABASE, failures.databaseUnavailable];
const READ_UNAVAILABLE = [...FROM_NGINX_OR_DATABASE, failures.readUnanswered];

// CREBITO_AUTH=keys: every API operation accepts a bearer key, and
// without auth (the default, the contract) none: `{}` says so.
const API_KEY_SCHEME = 'chaveApi';
const AUTH_SECURITY = [{}, { [API_KEY_SCHEME]: [] }];
const WWW_AUTHENTICATE_HEADERS = {
  'WWW-Authenticate': { description: 'the Bearer challenge (RFC 6750)', schema: { type: 'string' } },
};
const AUTH_NOTES: StatusNotes = {
  401: { note: `Only when ${SETTINGS.auth.env}=keys: no key, or one that is not in force; nothing was applied`, headers: WWW_AUTHENTICATE_HEADERS },
  403: { note: `Only when ${SETTINGS.auth.env}=keys: the key may not act on this client, or may only read; nothing was applied`, headers: WWW_AUTHENTICATE_HEADERS },
};
const READ_AUTH = [failures.apiKeyMissing, failures.apiKeyInvalid, failures.clientForbidden];
const WRITE_AUTH = [...READ_AUTH, failures.readOnlyKey];

const REPLAYED_HEADERS = {
  [REPLAYED_HEADER]: {
    description: `\`true\` when this answer is the stored outcome of an earlier request with the same ${IDEMPOTENCY_KEY_HEADER}, replayed byte for byte: nothing moved this time. Absent otherwise.`,
    schema: { type: 'string', enum: ['true'] },
  },
};

const CONTRACT = 'contract';
const OWN = 'beyond the contract';
const PROBES = 'probes';

const getHealth = {
  operationId: 'health',
  tags: [PROBES],
  summary: 'Is the process alive? (no database)',
  description: 'The instance, its in-flight and served requests. Never touches the database. '
    + `The pid and the pool, queue and breaker numbers are on each instance's admin address (${SETTINGS.adminListen.env}) only.`,
  responses: { 200: json({ type: 'object', required: ['instance', 'inFlight', 'draining', 'served'], properties: { pid: false, ledger: false } }, 'Alive.') },
};

const READY_SCHEMA = { type: 'object', required: ['pronto'], properties: { pronto: { type: 'boolean' }, motivo: { type: 'string' } } };

const getReady = {
  operationId: 'ready',
  tags: [PROBES],
  summary: 'Does the database answer, and is the pool open and warm?',
  description: '200 when the instance\'s whole pool is open and warm (each connection has run every statement once) and the database answered a trivial query within the last second; '
    + '503 while it does not, while a lost connection is opened and warmed again, or while the circuit breaker is open. '
    + 'Answers from a recent call when there was one: a probe never loads the database.',
  responses: {
    200: json(READY_SCHEMA, 'Ready.'),
    503: json(READY_SCHEMA, 'Not ready: the database is not answering, or the pool is not yet open and warm.', { headers: RETRY_AFTER_HEADERS }),
  },
};

const postTransaction = {
  operationId: 'registrarTransacao',
  tags: [CONTRACT],
  summary: 'Apply a credit or a debit',
  description: 'Applies it at once, or refuses a debit that would take the balance below `-limite` (422, nothing moves). '
    + `With an \`${IDEMPOTENCY_KEY_HEADER}\` header, the first request with that key (per client) is applied once and its outcome stored with it; `
    + `a retry with the same key and the same body gets that outcome again, byte for byte, marked by \`${REPLAYED_HEADER}: true\`, `
    + 'and moves nothing. A retry is safe after a timeout, a lost connection or a 503 whose outcome is unknown.',
  parameters: [{
    name: IDEMPOTENCY_KEY_HEADER,
    in: 'header',
    required: false,
    description: `1 to ${IDEMPOTENCY_KEY_CHARACTERS_MAX} visible ASCII characters, unique per logical transaction (a UUID, say); kept at least ${SETTINGS.idempotencyRetentionS.env} (${SETTINGS.idempotencyRetentionS.default / SECONDS_PER_HOUR} h by default). An empty value is as if there were none.`,
    schema: { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_CHARACTERS_MAX, pattern: '^[!-~]+$' },
  }],
  security: AUTH_SECURITY,
  requestBody: { required: true, content: { 'application/json': { schema: TRANSACTION_REQUEST_SCHEMA, example: { valor: 1000, tipo: 'c', descricao: 'descricao' } } } },
  responses: {
    200: json(TRANSACTION_RESULT_SCHEMA, `Applied (or, with ${REPLAYED_HEADER}, applied by an earlier request with the same key).`, { headers: REPLAYED_HEADERS }),
    ...errorResponses([
      failures.clientNotFound, failures.idempotencyKeyInUse, failures.bodyTooLarge,
      failures.malformedJson, failures.notAnObject, failures.invalidValor, failures.invalidTipo, failures.invalidDescricao,
      failures.limitExceeded, failures.balanceTooLarge, failures.invalidIdempotencyKey, failures.idempotencyKeyReused, failures.duplicateIdempotencyKey,
      failures.rejectedByDatabase, failures.clientBusy, ...UNAVAILABLE, ...WRITE_AUTH,
    ], {
      ...UNAVAILABLE_NOTES,
      ...AUTH_NOTES,
      409: { note: 'Nothing was applied by this request; retry it with the same key once the first has finished', headers: RETRY_AFTER_HEADERS },
      413: { note: 'nginx may answer it first, with its own page' },
      422: { note: `A refused debit with a key is stored like a success: its retries replay the same 422, marked ${REPLAYED_HEADER}`, headers: REPLAYED_HEADERS },
    }),
  },
};

const getStatement = {
  operationId: 'extrato',
  tags: [CONTRACT],
  summary: 'The balance and the 10 newest transactions',
  description: 'Balance and transactions from one snapshot, newest first; a write answered 200 is seen at once through every instance.',
  security: AUTH_SECURITY,
  responses: {
    200: json(STATEMENT_SCHEMA, 'The statement.'),
    ...errorResponses([failures.clientNotFound, ...READ_UNAVAILABLE, ...READ_AUTH], { ...UNAVAILABLE_NOTES, ...AUTH_NOTES }),
  },
};

const historyParameter = (name: string, description: string, schema: object) => ({ name, in: 'query', required: false, description, schema });

const getHistory = {
  operationId: 'historico',
  tags: [OWN],
  summary: 'The full history, a page at a time',
  description: 'Every transaction of the client, newest first, each with `saldo_apos`, the balance right after it, so that a statement can be audited line by line. '
    + 'Pages follow each other by `before=<next>`; walking them while writes continue returns every transaction exactly once (new ones appear on a new first page). '
    + `Each page reads at most ${HISTORY_SCAN_ROWS_MAX} of the client's transactions, matching or not, so that a page costs the same whatever the filters and the history's length: `
    + 'a page with filters may hold fewer than `limit` transactions, even none, and still have a `next`; keep following `next` until it is absent. '
    + 'Send the same filters with every page. With API keys on, each entry names the key that made it (`chave_api`).',
  security: AUTH_SECURITY,
  parameters: [
    historyParameter('limit', 'transactions per page', { type: 'integer', minimum: 1, maximum: HISTORY_PAGE_ROWS_MAX, default: HISTORY_PAGE_ROWS_DEFAULT }),
    historyParameter('before', 'the `next` value of the previous page, unchanged', { type: 'string' }),
    historyParameter('tipo', 'only credits (`c`) or debits (`d`)', { type: 'string', enum: ['c', 'd'] }),
    historyParameter('desde', 'only transactions recorded at or after this time (ISO 8601 with a zone)', { type: 'string', format: 'date-time' }),
    historyParameter('ate', 'only transactions recorded before this time (ISO 8601 with a zone)', { type: 'string', format: 'date-time' }),
    historyParameter('valor_min', 'only amounts of at least this many cents', { type: 'integer', minimum: 1, maximum: VALOR_MAX }),
    historyParameter('valor_max', 'only amounts of at most this many cents', { type: 'integer', minimum: 1, maximum: VALOR_MAX }),
  ],
  responses: {
    200: json(HISTORY_PAGE_SCHEMA, 'A page.'),
    ...errorResponses([
      failures.clientNotFound, failures.unknownParameter, failures.invalidLimit, failures.invalidCursor, failures.invalidTipo,
      failures.invalidTime, failures.invalidValorFilter, failures.invertedRange, failures.rejectedByDatabase, ...READ_UNAVAILABLE, ...READ_AUTH,
    ], { ...UNAVAILABLE_NOTES, ...AUTH_NOTES }),
  },
};

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'crebito',
    version: API_VERSION,
    description: 'A banking ledger: clients with a credit limit, credits and debits that never take a balance below `-limite`. '
      + 'POST transacoes and GET extrato are the Rinha de Backend 2024/Q1 contract, unchanged; the Idempotency-Key header and the history are crebito\'s own. '
      + 'Every answer carries `x-crebito-instance`, the instance that served it. Unknown routes answer 404 `rota_nao_encontrada`, '
      + 'and a known path asked with another method 405 `metodo_nao_permitido` with `Allow`; '
      + 'nginx itself may answer 502 or 504 when an instance is lost mid-request (a transaction\'s outcome is then unknown: retry it with its key). '
      + 'nginx also answers, on any path and with nothing applied: '
      + `${statusCodeOf(failures.badRequest)} \`${failures.badRequest.code}\` (not valid HTTP/1.1), `
      + `${statusCodeOf(failures.uriTooLong)} \`${failures.uriTooLong.code}\` (a request line over its limit), `
      + `${statusCodeOf(failures.unknownMethod)} \`${failures.unknownMethod.code}\` (a method outside HTTP's own, with \`Allow\`), `
      + `and, with TLS on and ${SETTINGS.plainHttp.env}=refuse, ${statusCodeOf(failures.httpsRequired)} \`${failures.httpsRequired.code}\` to plain HTTP (and always to plain HTTP sent to the HTTPS port). `
      + 'GET /docs (this description, interactive) and each instance\'s admin GET /metrics (Prometheus) are not described here.',
    license: { name: 'MIT', identifier: 'MIT' },
  },
  servers: [{ url: '/', description: 'the service that serves this document' }],
  tags: [
    { name: CONTRACT, description: 'The Rinha de Backend 2024/Q1 API, exactly (an Idempotency-Key header is optional and crebito\'s own).' },
    { name: OWN, description: 'What a real ledger needs beyond the contract.' },
    { name: PROBES, description: 'For load balancers and operators.' },
  ],
  paths: {
    '/clientes/{id}/transacoes': { parameters: [CLIENT_ID], post: postTransaction, get: getHistory },
    '/clientes/{id}/extrato': { parameters: [CLIENT_ID], get: getStatement },
    '/health': { get: getHealth },
    '/ready': { get: getReady },
  },
  components: {
    securitySchemes: {
      [API_KEY_SCHEME]: {
        type: 'http',
        scheme: 'bearer',
        description: `Only when the service runs with ${SETTINGS.auth.env}=keys (off by default, as the contract has no authentication): `
          + '`Authorization: Bearer <key>`, a key made by `npm run keys -- create`, scoped to some clients or all, to reading or to reading and writing.',
      },
    },
  },
};
