// Owns the JSON shapes crebito writes. Each serializer is compiled once, at
// start, from a schema by fast-json-stringify; the schemas double as the
// written contract of every response body.

import fastJson from 'fast-json-stringify';

export interface TransactionResult {
  limite: number;
  saldo: number;
}

export interface ExtratoTransaction {
  valor: number;
  tipo: string;
  descricao: string;
  realizada_em: string;
}

export interface Extrato {
  saldo: { total: number; data_extrato: string; limite: number };
  ultimas_transacoes: ExtratoTransaction[];
}

export const serializeTransactionResult = fastJson({
  type: 'object',
  required: ['limite', 'saldo'],
  properties: {
    limite: { type: 'integer' },
    saldo: { type: 'integer' },
  },
}) as (result: TransactionResult) => string;

export const serializeExtrato = fastJson({
  type: 'object',
  required: ['saldo', 'ultimas_transacoes'],
  properties: {
    saldo: {
      type: 'object',
      required: ['total', 'data_extrato', 'limite'],
      properties: {
        total: { type: 'integer' },
        data_extrato: { type: 'string' },
        limite: { type: 'integer' },
      },
    },
    ultimas_transacoes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['valor', 'tipo', 'descricao', 'realizada_em'],
        properties: {
          valor: { type: 'integer' },
          tipo: { type: 'string' },
          descricao: { type: 'string' },
          realizada_em: { type: 'string' },
        },
      },
    },
  },
}) as (extrato: Extrato) => string;
