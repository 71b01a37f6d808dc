// Owns the parts every operation's API description is built from: its
// error answers, listed by status from the catalogue (shared/failures.ts)
// with their exact bodies, what each status means, the security scheme and
// the tags. Each operation's own description sits in its declaration
// (src/instance/operations/); openapi.ts puts the document together.

import { SETTINGS } from '../../shared/settings.js';
import { failures, statusCodeOf, type Failure } from '../../shared/failures.js';
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER } from './headers.js';

/** What an operation says about one of its error statuses beyond the codes: a note, and headers. */
export type StatusNotes = Record<string, { note: string; headers?: object }>;

/** The error responses of an operation, one per status, each listing its codes and their exact bodies. */
export function errorResponses(list: Failure[], notes: StatusNotes = {}): Record<string, object> {
  const byStatus = new Map<string, Failure[]>();
  for (const failure of list) {
    const status = statusCodeOf(failure);
    byStatus.set(status, [...(byStatus.get(status) ?? []), failure]);
  }
  const responses: Record<string, object> = {};
  for (const [status, group] of byStatus) {
    const reason = group[0]!.status.slice(4);
    const codes = group.map((failure) => `\`${failure.code}\``).join(', ');
    responses[status] = {
      description: `${reason}: ${codes}${notes[status] ? `. ${notes[status].note}` : ''}`,
      ...(notes[status]?.headers === undefined ? {} : { headers: notes[status].headers }),
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['erro', 'mensagem'],
            properties: {
              erro: { type: 'string', enum: group.map((failure) => failure.code) },
              mensagem: { type: 'string' },
              pode_ter_sido_aplicada: {
                type: 'boolean',
                description: 'on answers from the database side: whether the transaction may have been applied anyway',
              },
            },
          },
          examples: Object.fromEntries(group.map((failure) => [failure.code, { value: JSON.parse(failure.body) }])),
        },
      },
    };
  }
  return responses;
}

export const json = (schema: object, description: string, extra: object = {}) => ({
  description,
  ...extra,
  content: { 'application/json': { schema } },
});

export const CLIENT_ID = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'the client (1 to 5 are seeded; anything else answers 404)',
  schema: { type: 'integer', minimum: 1 },
};

export const RETRY_AFTER_HEADERS = {
  'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'string' } },
};

/** The statuses every operation can get from the database side or from nginx, each with what it means. */
export const UNAVAILABLE_NOTES: StatusNotes = {
  429: {
    note:
      `Only when ${SETTINGS.rateLimitPerS.env} is set, nothing applied: from nginx, per API key with ` +
      `${SETTINGS.auth.env}=keys, else per address; with keys, a request without a key nginx can read counts against ` +
      'its address at nginx, and one with a key no instance knows at the instance that would answer 401',
    headers: RETRY_AFTER_HEADERS,
  },
  431: { note: 'From nginx: the request headers are larger than 4 × 8 KiB' },
  502: {
    note:
      'From nginx, when the instance serving the request failed before answering and the request could not go ' +
      'to another: an unkeyed POST (never sent twice) or any request when every instance failed. ' +
      "A transaction's outcome is then unknown: retry it with its key",
    headers: RETRY_AFTER_HEADERS,
  },
  503: {
    note:
      `\`${failures.overloaded.code}\` and \`${failures.databaseDown.code}\`: never sent, nothing was applied; ` +
      `\`${failures.databaseUnanswered.code}\`: a transaction sent and unanswered in time, ` +
      'so it may have been applied (retry it with the same key); ' +
      `\`${failures.readUnanswered.code}\`: a read unanswered in time (a read changes nothing). ` +
      '`pode_ter_sido_aplicada` says which.',
    headers: RETRY_AFTER_HEADERS,
  },
  504: {
    note:
      'From nginx, when the instance serving the request did not answer by its deadline and the request could ' +
      'not go to another (as for 502)',
    headers: RETRY_AFTER_HEADERS,
  },
};
/** Answers every operation may get from nginx or from the database side; the last is each kind's timeout. */
export const FROM_NGINX_OR_DATABASE = [
  failures.tooManyRequests,
  failures.headersTooLarge,
  failures.instanceFailed,
  failures.instanceTimedOut,
  failures.overloaded,
  failures.databaseDown,
];
export const UNAVAILABLE = [...FROM_NGINX_OR_DATABASE, failures.databaseUnanswered];
export const READ_UNAVAILABLE = [...FROM_NGINX_OR_DATABASE, failures.readUnanswered];

// CREBITO_AUTH=keys: every API operation accepts a bearer key, and
// without auth (the default, the contract) none: `{}` says so.
export const API_KEY_SCHEME = 'chaveApi';
export const AUTH_SECURITY = [{}, { [API_KEY_SCHEME]: [] }];
export const WWW_AUTHENTICATE_HEADERS = {
  'WWW-Authenticate': { description: 'the Bearer challenge (RFC 6750)', schema: { type: 'string' } },
};
export const AUTH_NOTES: StatusNotes = {
  401: {
    note: `Only when ${SETTINGS.auth.env}=keys: no key, or one that is not in force; nothing was applied`,
    headers: WWW_AUTHENTICATE_HEADERS,
  },
  403: {
    note:
      `Only when ${SETTINGS.auth.env}=keys: the key may not act on this client, or may only read; ` +
      'nothing was applied',
    headers: WWW_AUTHENTICATE_HEADERS,
  },
};
export const READ_AUTH = [failures.apiKeyMissing, failures.apiKeyInvalid, failures.clientForbidden];
export const WRITE_AUTH = [...READ_AUTH, failures.readOnlyKey];

export const REPLAYED_HEADERS = {
  [REPLAYED_HEADER]: {
    description:
      '`true` when this answer is the stored outcome of an earlier request with the same ' +
      `${IDEMPOTENCY_KEY_HEADER}, replayed byte for byte: nothing moved this time. Absent otherwise.`,
    schema: { type: 'string', enum: ['true'] },
  },
};

export const CONTRACT = 'contract';
export const OWN = 'beyond the contract';
export const PROBES = 'probes';
