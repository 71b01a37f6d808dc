// Owns the OpenAPI 3.1 description of the whole API, served at
// GET /openapi.json and kept in the repository as openapi.json (a test holds
// the file to this; `npm run generate` rewrites it). It is built from the
// facts it describes, each read from where it is declared: the paths are
// the operations' declarations (src/instance/operations/), the bodies are
// the serializers' schemas, every error body comes from the catalogue
// (shared/failures.ts) with its exact text as an example, every bound is the
// constant the validation uses, header names and settings are named by their
// constants. test/instance/openapi.test.ts validates real
// responses against it.

import { SETTINGS } from '../../shared/settings.js';
import { failures, statusCodeOf } from '../../shared/failures.js';
import type { AnyApiOperation } from '../operations/declaration.js';
import { API_OPERATIONS } from '../operations/index.js';
import { API_KEY_SCHEME, CLIENT_ID, CONTRACT, json, OWN, PROBES, RETRY_AFTER_HEADERS } from './api-description.js';
import { INSTANCE_HEADER } from './headers.js';

/**
 * The API's own version, not the package's: 1.0 was the contract alone; 1.1 adds idempotency keys and the history;
 * 1.2 the probes, 405, and 503s that say whether anything was applied.
 */
const API_VERSION = '1.2.0';

const getHealth = {
  operationId: 'health',
  tags: [PROBES],
  summary: 'Is the process alive? (no database)',
  description:
    'The instance, its in-flight and served requests. Never touches the database. ' +
    `The pid and the pool, queue and breaker numbers are on each instance's admin address (${SETTINGS.adminListen.env}) only.`,
  responses: {
    200: json(
      {
        type: 'object',
        required: ['instance', 'inFlight', 'draining', 'served'],
        properties: { pid: false, ledger: false },
      },
      'Alive.',
    ),
  },
};

const READY_SCHEMA = {
  type: 'object',
  required: ['pronto'],
  properties: { pronto: { type: 'boolean' }, motivo: { type: 'string' } },
};

const getReady = {
  operationId: 'ready',
  tags: [PROBES],
  summary: 'Does the database answer, and is the pool open and warm?',
  description:
    "200 when the instance's whole pool is open and warm (each connection has run every statement once) " +
    'and the database answered a trivial query within the last second; ' +
    '503 while it does not, while a lost connection is opened and warmed again, or while the circuit breaker is open. ' +
    'Answers from a recent call when there was one: a probe never loads the database.',
  responses: {
    200: json(READY_SCHEMA, 'Ready.'),
    503: json(READY_SCHEMA, 'Not ready: the database is not answering, or the pool is not yet open and warm.', {
      headers: RETRY_AFTER_HEADERS,
    }),
  },
};

/** Each operation's description under its path (`:id` written `{id}`) and method; a client's path says so once. */
export function operationPaths(operations: readonly AnyApiOperation[]): Record<string, Record<string, object>> {
  const paths: Record<string, Record<string, object>> = {};
  for (const operation of operations) {
    const path = operation.path.replace(/:([a-z]+)/g, '{$1}');
    paths[path] ??= path.includes('{id}') ? { parameters: [CLIENT_ID] } : {};
    paths[path]![operation.method] = operation.description;
  }
  return paths;
}

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'crebito',
    version: API_VERSION,
    description:
      'A banking ledger: clients with a credit limit, credits and debits that never take a balance below `-limite`. ' +
      "POST transacoes and GET extrato are the Rinha de Backend 2024/Q1 contract, unchanged; the Idempotency-Key header and the history are crebito's own. " +
      `Every answer carries \`${INSTANCE_HEADER}\`, the instance that served it. ` +
      'Unknown routes answer 404 `rota_nao_encontrada`, ' +
      'and a known path asked with another method 405 `metodo_nao_permitido` with `Allow`; ' +
      "nginx itself may answer 502 or 504 when an instance is lost mid-request (a transaction's outcome is then unknown: retry it with its key). " +
      'nginx also answers, on any path and with nothing applied: ' +
      `${statusCodeOf(failures.badRequest)} \`${failures.badRequest.code}\` (not valid HTTP/1.1), ` +
      `${statusCodeOf(failures.uriTooLong)} \`${failures.uriTooLong.code}\` (a request line over its limit), ` +
      `${statusCodeOf(failures.unknownMethod)} \`${failures.unknownMethod.code}\` (a method outside HTTP's own, with \`Allow\`), ` +
      `and, with TLS on and ${SETTINGS.plainHttp.env}=refuse, ` +
      `${statusCodeOf(failures.httpsRequired)} \`${failures.httpsRequired.code}\` to plain HTTP ` +
      '(and always to plain HTTP sent to the HTTPS port). ' +
      "GET /docs (this description, interactive) and each instance's admin GET /metrics (Prometheus) are not described here.",
    license: { name: 'MIT', identifier: 'MIT' },
  },
  servers: [{ url: '/', description: 'the service that serves this document' }],
  tags: [
    {
      name: CONTRACT,
      description:
        "The Rinha de Backend 2024/Q1 API, exactly (an Idempotency-Key header is optional and crebito's own).",
    },
    { name: OWN, description: 'What a real ledger needs beyond the contract.' },
    { name: PROBES, description: 'For load balancers and operators.' },
  ],
  paths: {
    ...operationPaths(API_OPERATIONS),
    '/health': { get: getHealth },
    '/ready': { get: getReady },
  },
  components: {
    securitySchemes: {
      [API_KEY_SCHEME]: {
        type: 'http',
        scheme: 'bearer',
        description:
          `Only when the service runs with ${SETTINGS.auth.env}=keys (off by default, as the contract has no authentication): ` +
          '`Authorization: Bearer <key>`, a key made by `npm run keys -- create`, scoped to some clients or all, to reading or to reading and writing.',
      },
    },
  },
};
