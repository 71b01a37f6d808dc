// Owns the API description of POST /clientes/{id}/transferencias; openapi.ts
// places it in the document and lends it the pieces every write shares
// (the key header, the auth scheme, the error responses).

import { failures, type Failure } from '../../shared/failures.js';
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER } from './headers.js';
import { TRANSFER_REQUEST_SCHEMA, TRANSFER_RESULT_SCHEMA } from './serializers.js';

type StatusNotes = Record<string, { note: string; headers?: object }>;

export interface SharedPieces {
  tags: string[];
  security: object[];
  keyParameter: object;
  errorResponses: (list: Failure[], notes?: StatusNotes) => Record<string, object>;
  unavailable: Failure[];
  writeAuth: Failure[];
  notes: StatusNotes;
}

const REPLAYED_HEADERS = {
  [REPLAYED_HEADER]: {
    description: `\`true\` when this answer is the stored outcome of an earlier request`
      + ` with the same ${IDEMPOTENCY_KEY_HEADER}`,
    schema: { type: 'string', enum: ['true'] },
  },
};

const DESCRIPTION = [
  'Moves `valor` from the client in the path (the payer) to the client `para` (the payee), both or neither:',
  'one database transaction writes the payer\'s debit and the payee\'s credit, two rows naming one transfer id.',
  'Refused (422, nothing moves) when the payer\'s balance would fall below `-limite`,',
  'when `para` names no client or the payer itself, or when the payee\'s balance would pass the largest exact integer;',
  'the payee\'s limit plays no part.',
  'Each client\'s statement keeps the contract\'s shape:',
  'the payer sees a `d`, the payee a `c`, with the same descricao;',
  'the history shows both rows with `transferencia` and `contraparte`.',
  `${IDEMPOTENCY_KEY_HEADER} works as for a transaction, in the payer's keys`,
  '(a key used for a transaction is refused for a transfer, and the other way round).',
  'With API keys on, the key needs write scope on the payer; the payee needs nothing.',
].join(' ');

const EXAMPLE = { para: 2, valor: 1000, descricao: 'pix' };

const FAILURES = [
  failures.clientNotFound, failures.idempotencyKeyInUse, failures.bodyTooLarge,
  failures.malformedJson, failures.notAnObject, failures.invalidPara, failures.invalidValor,
  failures.invalidDescricao, failures.transferToSelf, failures.payeeNotFound, failures.limitExceeded,
  failures.payeeBalanceTooLarge, failures.invalidIdempotencyKey, failures.idempotencyKeyReused,
  failures.duplicateIdempotencyKey, failures.rejectedByDatabase, failures.clientBusy,
];

export function postTransferDescription(shared: SharedPieces): object {
  const jsonBody = (schema: object, extra: object = {}) => ({ content: { 'application/json': { schema, ...extra } } });
  return {
    operationId: 'transferir',
    tags: shared.tags,
    summary: 'Pay another client',
    description: DESCRIPTION,
    parameters: [shared.keyParameter],
    security: shared.security,
    requestBody: { required: true, ...jsonBody(TRANSFER_REQUEST_SCHEMA, { example: EXAMPLE }) },
    responses: {
      200: {
        description: 'Applied (or, with the replay header, applied by an earlier request with the same key).',
        headers: REPLAYED_HEADERS,
        ...jsonBody(TRANSFER_RESULT_SCHEMA),
      },
      ...shared.errorResponses([...FAILURES, ...shared.unavailable, ...shared.writeAuth], {
        ...shared.notes,
        409: { note: 'Nothing was applied by this request; retry it with the same key once the first has finished' },
        422: {
          note: 'A refused transfer with a key is stored like a success: '
            + `its retries replay the same 422, marked ${REPLAYED_HEADER}`,
          headers: REPLAYED_HEADERS,
        },
      }),
    },
  };
}
