// Owns the OpenAPI 3.1 description of the whole API, served at
// GET /openapi.json and kept in the repository as openapi.json (a test holds
// the file to this; `npm run openapi` rewrites it). It is built from the
// facts it describes, never written twice: the response bodies are the
// serializers' schemas, every error body comes from the catalogue
// (errors.ts) with its exact text as an example, and every bound is the
// constant the validation uses. test/openapi.test.ts validates real
// responses against it.

import { DESCRICAO_CHARACTERS_MAX, VALOR_MAX } from '../shared/contract.js';
import { HISTORY_PAGE_ROWS_DEFAULT, HISTORY_PAGE_ROWS_MAX, IDEMPOTENCY_KEY_CHARACTERS_MAX, IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER } from './api-limits.js';
import { failures, type Failure } from './errors.js';
import { EXTRATO_SCHEMA, HISTORY_PAGE_SCHEMA, TRANSACTION_RESULT_SCHEMA } from './serializers.js';

/** The API's own version, not the package's: 1.0 was the contract alone; 1.1 adds idempotency keys and the history. */
const API_VERSION = '1.1.0';

const statusCode = (failure: Failure) => failure.status.slice(0, 3);

/** What an operation says about one of its error statuses beyond the codes: a note, and headers. */
type StatusNotes = Record<string, { note: string; headers?: object }>;

/** The error responses of an operation, one per status, each listing its codes and their exact bodies. */
function errorResponses(list: Failure[], notes: StatusNotes = {}): Record<string, object> {
  const byStatus = new Map<string, Failure[]>();
  for (const failure of list) byStatus.set(statusCode(failure), [...(byStatus.get(statusCode(failure)) ?? []), failure]);
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
            properties: { erro: { type: 'string', enum: group.map((failure) => failure.code) }, mensagem: { type: 'string' } },
          },
          examples: Object.fromEntries(group.map((failure) => [failure.code, { value: { erro: failure.code, mensagem: failure.message } }])),
        },
      },
    };
  }
  return responses;
}

const json = (schema: object, description: string, extra: object = {}) => ({ description, ...extra, content: { 'application/json': { schema } } });

const CLIENT_ID = { name: 'id', in: 'path', required: true, description: 'the client (1 to 5 are seeded; anything else answers 404)', schema: { type: 'integer', minimum: 1 } };

const REPLAYED_HEADERS = {
  [REPLAYED_HEADER]: {
    description: `\`true\` when this answer is the stored outcome of an earlier request with the same ${IDEMPOTENCY_KEY_HEADER}, replayed byte for byte: nothing moved this time. Absent otherwise.`,
    schema: { type: 'string', enum: ['true'] },
  },
};

const TRANSACTION_REQUEST = {
  type: 'object',
  required: ['valor', 'tipo', 'descricao'],
  properties: {
    valor: { type: 'integer', minimum: 1, maximum: VALOR_MAX, description: 'the amount, in cents' },
    tipo: { type: 'string', enum: ['c', 'd'], description: '`c` credit, `d` debit' },
    descricao: { type: 'string', minLength: 1, maxLength: DESCRICAO_CHARACTERS_MAX, description: `1 to ${DESCRICAO_CHARACTERS_MAX} Unicode characters` },
  },
};

const CONTRACT = 'contract';
const OWN = 'beyond the contract';

const postTransaction = {
  operationId: 'registrarTransacao',
  tags: [CONTRACT],
  summary: 'Apply a credit or a debit',
  description: 'Applies it at once, or refuses a debit that would take the balance below `-limite` (422, nothing moves). '
    + `With an \`${IDEMPOTENCY_KEY_HEADER}\` header, the first request with that key (per client) is applied once and its outcome stored with it; `
    + 'a retry with the same key and the same body gets that outcome again, byte for byte, marked by `Idempotent-Replayed: true`, '
    + 'and moves nothing. A retry is safe after a timeout, a lost connection or a 503 whose outcome is unknown.',
  parameters: [{
    name: IDEMPOTENCY_KEY_HEADER,
    in: 'header',
    required: false,
    description: `1 to ${IDEMPOTENCY_KEY_CHARACTERS_MAX} visible ASCII characters, unique per logical transaction (a UUID, say); kept at least CREBITO_IDEMPOTENCY_RETENTION_S (24 h by default). An empty value is as if there were none.`,
    schema: { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_CHARACTERS_MAX, pattern: '^[!-~]+$' },
  }],
  requestBody: { required: true, content: { 'application/json': { schema: TRANSACTION_REQUEST, example: { valor: 1000, tipo: 'c', descricao: 'descricao' } } } },
  responses: {
    200: json(TRANSACTION_RESULT_SCHEMA, 'Applied (or, with Idempotent-Replayed, applied by an earlier request with the same key).', { headers: REPLAYED_HEADERS }),
    ...errorResponses([
      failures.clientNotFound, failures.idempotencyKeyInUse, failures.bodyTooLarge,
      failures.malformedJson, failures.notAnObject, failures.invalidValor, failures.invalidTipo, failures.invalidDescricao,
      failures.limitExceeded, failures.balanceTooLarge, failures.invalidIdempotencyKey, failures.idempotencyKeyReused,
      failures.rejectedByDatabase, failures.overloaded, failures.databaseUnavailable,
    ], {
      409: { note: 'Nothing was applied by this request; retry it with the same key once the first has finished' },
      413: { note: 'nginx may answer it first, with its own page' },
      422: { note: 'A refused debit with a key is stored like a success: its retries replay the same 422, marked Idempotent-Replayed', headers: REPLAYED_HEADERS },
      503: { note: '`sobrecarregado`: nothing was applied; `banco_indisponivel`: the outcome is unknown, so retry with the same key' },
    }),
  },
};

const getExtrato = {
  operationId: 'extrato',
  tags: [CONTRACT],
  summary: 'The balance and the 10 newest transactions',
  description: 'Balance and transactions from one snapshot, newest first; a write answered 200 is seen at once through every instance.',
  responses: {
    200: json(EXTRATO_SCHEMA, 'The statement.'),
    ...errorResponses([failures.clientNotFound, failures.overloaded, failures.databaseUnavailable]),
  },
};

const historyParameter = (name: string, description: string, schema: object) => ({ name, in: 'query', required: false, description, schema });

const getHistory = {
  operationId: 'historico',
  tags: [OWN],
  summary: 'The full history, a page at a time',
  description: 'Every transaction of the client, newest first, each with `saldo_apos`, the balance right after it, so that a statement can be audited line by line. '
    + 'Pages follow each other by `before=<next>`; walking them while writes continue returns every transaction exactly once (new ones appear on a new first page). '
    + 'Send the same filters with every page.',
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
      failures.invalidTime, failures.invalidValorFilter, failures.invertedRange, failures.rejectedByDatabase, failures.overloaded, failures.databaseUnavailable,
    ]),
  },
};

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'crebito',
    version: API_VERSION,
    description: 'A banking ledger: clients with a credit limit, credits and debits that never take a balance below `-limite`. '
      + 'POST transacoes and GET extrato are the Rinha de Backend 2024/Q1 contract, unchanged; the Idempotency-Key header and the history are crebito\'s own. '
      + 'Every answer carries `x-crebito-instance`, the instance that served it. Unknown routes answer 404 `rota_nao_encontrada`; '
      + 'nginx itself may answer 502 or 504 when an instance is lost mid-request (a transaction\'s outcome is then unknown: retry it with its key). '
      + 'GET /health (for operators) and GET /docs (this description, interactive) are not described here.',
    license: { name: 'MIT', identifier: 'MIT' },
  },
  servers: [{ url: '/', description: 'the service that serves this document' }],
  tags: [
    { name: CONTRACT, description: 'The Rinha de Backend 2024/Q1 API, exactly (an Idempotency-Key header is optional and crebito\'s own).' },
    { name: OWN, description: 'What a real ledger needs beyond the contract.' },
  ],
  paths: {
    '/clientes/{id}/transacoes': { parameters: [CLIENT_ID], post: postTransaction, get: getHistory },
    '/clientes/{id}/extrato': { parameters: [CLIENT_ID], get: getExtrato },
  },
};
