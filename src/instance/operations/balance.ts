// Declares GET /clientes/{id}/saldo, crebito's own: a client's balance and
// limit alone (what a debit may still take is saldo + limite), without
// reading any transaction. Every client asked in a batch is read in one
// query (saldos, sql/09-saldos.sql), from one snapshot.

import { failures, type Failure } from '../../shared/failures.js';
import { QueryFailure } from '../database/pool.js';
import { AUTH_NOTES, AUTH_SECURITY, errorResponses, json, OWN, READ_AUTH, READ_UNAVAILABLE, UNAVAILABLE_NOTES } from '../http/api-description.js';
import { cents, compile, object } from '../http/serializers.js';
import type { PreparedQuery } from '../ledger/operation.js';
import { clientRead, type ApiOperation } from './declaration.js';

interface Balance {
  saldo: number;
  limite: number;
}

type BalanceAnswer = Balance | Failure;

const BALANCE_SCHEMA = object(['saldo', 'limite'], {
  saldo: cents('the current balance (never below -limite)'),
  limite: cents('the client\'s credit limit'),
});

const BALANCES_QUERY: PreparedQuery = {
  name: 'saldos', text: 'SELECT ordem, saldo, limite FROM saldos($1)', functions: ['saldos'], warmUp: [[1]],
};

export const BALANCE = {
  method: 'get',
  path: '/clientes/:id/saldo',
  label: 'saldo',
  access: 'read',
  connections: 'reads',
  queries: [BALANCES_QUERY],
  sizeMax: (settings) => settings.batchSizeMax,
  async send(clientIds, { database }) {
    const rows = await database.query(BALANCES_QUERY.name, BALANCES_QUERY.text, [clientIds]);
    if (rows instanceof QueryFailure) return clientIds.map(() => failures.readUnanswered);
    const answers: BalanceAnswer[] = clientIds.map(() => failures.clientNotFound);
    for (const [ordem, saldo, limite] of rows as [number, number, number][]) answers[ordem - 1] = { saldo, limite };
    return answers;
  },
  handle: clientRead<BalanceAnswer>(compile<Balance>(BALANCE_SCHEMA)),
  description: {
    operationId: 'saldo',
    tags: [OWN],
    summary: 'The balance and the limit, without the transactions',
    description: 'What a debit may still take is `saldo + limite`. Read from one snapshot; a write answered 200 is seen at once.',
    security: AUTH_SECURITY,
    responses: {
      200: json(BALANCE_SCHEMA, 'The balance.'),
      ...errorResponses([failures.clientNotFound, ...READ_UNAVAILABLE, ...READ_AUTH], { ...UNAVAILABLE_NOTES, ...AUTH_NOTES }),
    },
  },
} as const satisfies ApiOperation<number, BalanceAnswer>;
