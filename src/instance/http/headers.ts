// Owns the names of the headers crebito's own API adds to the contract:
// the request header that carries an idempotency key, and the response
// header that marks a replay. The validation, the replies and the API
// description all read them here.

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
