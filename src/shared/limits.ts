// Owns the limits that both programs enforce and must agree on: the instance
// checks each request against them, and the launcher renders the same numbers
// into nginx's configuration, so nginx refuses what an instance would.

// The largest request body accepted. A valid transaction body is under 100
// bytes; 4 KiB leaves room for whitespace and unknown extra fields while
// keeping a hostile client from making us buffer much.
export const BODY_SIZE_BYTES_MAX = 4096;
