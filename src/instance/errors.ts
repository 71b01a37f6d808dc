// Owns the catalogue of answers that are not a success: each expected outcome
// with its HTTP status and the short JSON body a human reads. Handlers return
// these; they never build error responses by hand. A broken invariant is not
// in this list: it is a bug, and `invariant` crashes the process loudly.

export class Failure {
  /** The response body, built once here rather than on every request. */
  readonly body: string;

  constructor(
    /** The HTTP status line uWebSockets.js writes, e.g. '422 Unprocessable Entity'. */
    readonly status: string,
    readonly code: string,
    readonly message: string,
  ) {
    this.body = JSON.stringify({ erro: code, mensagem: message });
    Object.freeze(this);
  }
}

export const failures = {
  clientNotFound: new Failure('404 Not Found', 'cliente_nao_encontrado', 'no such client'),
  routeNotFound: new Failure('404 Not Found', 'rota_nao_encontrada', 'no such route'),
  limitExceeded: new Failure('422 Unprocessable Entity', 'limite_excedido', 'the debit would take the balance below -limite'),
  balanceTooLarge: new Failure('422 Unprocessable Entity', 'saldo_excedido', 'the credit would take the balance past the largest exact integer'),
  malformedJson: new Failure('422 Unprocessable Entity', 'json_invalido', 'the body is not one JSON value'),
  notAnObject: new Failure('422 Unprocessable Entity', 'corpo_invalido', 'the body must be a JSON object'),
  invalidValor: new Failure('422 Unprocessable Entity', 'valor_invalido', 'valor must be a whole number from 1 to 2147483647'),
  invalidTipo: new Failure('422 Unprocessable Entity', 'tipo_invalido', 'tipo must be "c" or "d"'),
  invalidDescricao: new Failure('422 Unprocessable Entity', 'descricao_invalida', 'descricao must be a string of 1 to 10 characters'),
  bodyTooLarge: new Failure('413 Payload Too Large', 'corpo_grande_demais', 'the body is larger than the limit'),
  overloaded: new Failure('503 Service Unavailable', 'sobrecarregado', 'too many requests are waiting for the database'),
  databaseUnavailable: new Failure('503 Service Unavailable', 'banco_indisponivel', 'the database did not answer; a transaction may or may not have been applied'),
} as const;

export class InvariantError extends Error {
  override name = 'InvariantError';
}

/** Asserts something that can only be false through a bug; never use it for input. */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}
