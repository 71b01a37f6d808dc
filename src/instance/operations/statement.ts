// Declares GET /clientes/{id}/extrato, the contract's statement: the
// balance and the newest transactions, read for every client asked for in a
// batch in one query, from one snapshot (ledger/statements.ts).

import { failures } from '../../shared/failures.js';
import {
  AUTH_NOTES,
  AUTH_SECURITY,
  CONTRACT,
  errorResponses,
  json,
  READ_AUTH,
  READ_UNAVAILABLE,
  UNAVAILABLE_NOTES,
} from '../http/api-description.js';
import { serializeStatement, STATEMENT_SCHEMA } from '../http/serializers.js';
import { readStatements, STATEMENT_QUERY, type StatementAnswer } from '../ledger/statements.js';
import { clientRead, type ApiOperation } from './declaration.js';

const DESCRIPTION = {
  operationId: 'extrato',
  tags: [CONTRACT],
  summary: 'The balance and the 10 newest transactions',
  description:
    'Balance and transactions from one snapshot, newest first; ' +
    'a write answered 200 is seen at once through every instance.',
  security: AUTH_SECURITY,
  responses: {
    200: json(STATEMENT_SCHEMA, 'The statement.'),
    ...errorResponses([failures.clientNotFound, ...READ_UNAVAILABLE, ...READ_AUTH], {
      ...UNAVAILABLE_NOTES,
      ...AUTH_NOTES,
    }),
  },
};

export const STATEMENT = {
  method: 'get',
  path: '/clientes/:id/extrato',
  label: 'extrato',
  formerLabel: 'extratos',
  access: 'read',
  connections: 'reads',
  queries: [STATEMENT_QUERY],
  sizeMax: (settings) => settings.batchSizeMax,
  // All but one of the reads' slots: statements batch behind one another,
  // and a burst of them never holds every slot a history page could use. At
  // the defaults (2 reads) one statement call is in flight, as measured.
  inFlightMax: (settings) => Math.max(1, settings.readsInFlightMax - 1),
  send: (clientIds, { database }) => readStatements(database, clientIds),
  handle: clientRead<StatementAnswer>(serializeStatement),
  description: DESCRIPTION,
} as const satisfies ApiOperation<number, StatementAnswer>;
