// The public-surface fuzzer's parts (test/stack/fuzz-public-surface.test.ts):
// fast-check arbitraries for requests, structured (a method, a path, a query,
// headers and a body, each from the API's own vocabulary and then mutated)
// and raw (bytes that are barely HTTP, or not at all), a client that writes
// them over a plain TCP socket and reads one answer, and the rule an answer
// must keep. Raw sockets, not fetch: fetch refuses to send most of these.

import fc from 'fast-check';
import net from 'node:net';
import { failures } from '../../src/shared/failures.js';
import { BODY_SIZE_BYTES_MAX } from '../../src/shared/limits.js';

export interface FuzzRequest {
  /** The bytes written, as they go on the wire. */
  bytes: Buffer;
  /** HEAD: the answer has no body whatever its Content-Length says. */
  head: boolean;
  /** Half-close after writing: for bytes that are not a request nginx should wait on. */
  halfClose: boolean;
}

export type Outcome = { kind: 'answer'; status: number; head: string; body: string } | { kind: 'closed' };

/** The 503s the catalogue documents, by code: the only 5xx the public surface may answer. */
export const DOCUMENTED_503_CODES = new Set(
  Object.values(failures)
    .filter((failure) => failure.status.startsWith('503'))
    .map((failure) => failure.code),
);

/** Why an outcome breaks the rule, or undefined when it keeps it. */
export function brokenRule(outcome: Outcome): string | undefined {
  if (outcome.kind === 'closed' || outcome.status < 500) return undefined;
  if (outcome.status === 503) {
    const code = /"erro":"([a-z_]+)"/.exec(outcome.body)?.[1];
    if (code !== undefined && DOCUMENTED_503_CODES.has(code)) return undefined;
  }
  return `answered ${outcome.status}, which is no documented 503:\n${outcome.head}\n\n${outcome.body.slice(0, 500)}`;
}

const CRLF = '\r\n';

/** One response's end, or undefined while more bytes are needed (1xx answers skipped). */
function completeAnswer(received: Buffer, head: boolean): Outcome | undefined {
  let text = received.toString('latin1');
  for (;;) {
    const end = text.indexOf(CRLF + CRLF);
    if (end === -1) return undefined;
    const headText = text.slice(0, end);
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(headText)?.[1] ?? Number.NaN);
    const rest = text.slice(end + 4);
    if (status >= 100 && status < 200) {
      text = rest;
      continue;
    }
    const answer = { kind: 'answer' as const, status, head: headText };
    if (head || status === 204 || status === 304) return { ...answer, body: '' };
    const length = /\r\ncontent-length: *(\d+)/i.exec(headText);
    if (length !== null)
      return rest.length >= Number(length[1]) ? { ...answer, body: rest.slice(0, Number(length[1])) } : undefined;
    if (/\r\ntransfer-encoding: *chunked/i.test(headText))
      return rest.includes(`0${CRLF}${CRLF}`) ? { ...answer, body: rest } : undefined;
    return undefined;
  }
}

/**
 * Writes one request and reads one answer: complete by its Content-Length
 * (or chunks), or whatever came when the server closed. nginx times out a
 * silent client within 5 s (client_header_timeout, client_body_timeout), so
 * a connection still open and silent at deadlineMs is a hang, and rejects.
 */
export function exchange(port: number, request: FuzzRequest, deadlineMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const finish = (outcome: Outcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `no answer and no close within ${deadlineMs} ms; received ${JSON.stringify(received.toString('latin1').slice(0, 300))}`,
        ),
      );
    }, deadlineMs);
    socket.on('connect', () => {
      socket.write(request.bytes);
      if (request.halfClose) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const outcome = completeAnswer(received, request.head);
      if (outcome !== undefined) finish(outcome);
    });
    // A reset or a close: what came so far is the answer, if any came.
    const ended = () => {
      const end = received.indexOf(CRLF + CRLF);
      if (end === -1) return finish({ kind: 'closed' });
      const headText = received.subarray(0, end).toString('latin1');
      finish({
        kind: 'answer',
        status: Number(/^HTTP\/\d\.\d (\d{3})/.exec(headText)?.[1] ?? Number.NaN),
        head: headText,
        body: received.subarray(end + 4).toString('latin1'),
      });
    };
    socket.on('error', ended);
    socket.on('close', ended);
  });
}

// --- Structured requests ---------------------------------------------------

const hex = (maxLength: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength });
const visibleAscii = (maxLength: number) =>
  fc.string({ unit: 'grapheme-ascii', maxLength }).map((text) => text.replace(/[\r\n]/g, ''));
/** Any bytes but CR and LF, as a header value carries them (latin1 on the wire). */
const headerBytes = (maxLength: number) =>
  fc
    .uint8Array({ maxLength })
    .map((bytes) => Buffer.from(bytes.filter((byte) => byte !== 10 && byte !== 13)).toString('latin1'));

const clientIds = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('1', '2', '3', '4', '5') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '0',
      '6',
      '-1',
      '01',
      '1.0',
      '1e0',
      'abc',
      '',
      '2147483648',
      '99999999999999999999999',
      '%31',
      '1%00',
      '+1',
      ' 1',
    ),
  },
  { weight: 1, arbitrary: fc.integer().map(String) },
);

const FIXED_PATHS = [
  '/',
  '/docs',
  '/openapi.json',
  '/docs/swagger-ui.css',
  '/docs/init.js',
  '/clientes',
  '/clientes/',
  '/clientes/1',
  '/clientes//extrato',
  '/clientes/1/extrato/',
  '/clientes/1/../1/extrato',
  '/clientes/1/%2e%2e/2/extrato',
  '/metrics',
  '/health',
  '/ready',
  '/.crebito/400',
  '/%2e%2e/',
  '*',
  'http://localhost/clientes/1/extrato',
  '/clientes/1/extrato#frag',
  '/CLIENTES/1/EXTRATO',
  '/clientes/1/transacoes/',
];

const paths = fc.oneof(
  { weight: 5, arbitrary: clientIds.map((id) => `/clientes/${id}/transacoes`) },
  { weight: 3, arbitrary: clientIds.map((id) => `/clientes/${id}/transferencias`) },
  { weight: 3, arbitrary: clientIds.map((id) => `/clientes/${id}/extrato`) },
  { weight: 1, arbitrary: fc.constantFrom(...FIXED_PATHS) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.string({ maxLength: 12 }), { maxLength: 5 })
      .map((segments) => `/${segments.map(encodeURIComponent).join('/')}`),
  },
);

const CURSOR_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.';

/** Real cursors of the running stack, kept, cut, or with one character changed. */
function cursors(real: readonly string[]): fc.Arbitrary<string> {
  const one = fc.constantFrom(...real);
  return fc.oneof(
    one,
    fc.tuple(one, fc.nat(), fc.nat(CURSOR_ALPHABET.length - 1)).map(([cursor, at, character]) => {
      const index = at % cursor.length;
      return cursor.slice(0, index) + CURSOR_ALPHABET[character] + cursor.slice(index + 1);
    }),
    fc.tuple(one, fc.nat()).map(([cursor, at]) => cursor.slice(0, at % cursor.length)),
    fc.string({ unit: fc.constantFrom(...CURSOR_ALPHABET), maxLength: 80 }),
  );
}

function queries(realCursors: readonly string[]): fc.Arbitrary<string> {
  const value = fc.oneof(
    fc.constantFrom(
      '1',
      '10',
      '100',
      '1000',
      '0',
      '-1',
      '1e3',
      '1.5',
      'abc',
      '',
      'c',
      'd',
      'x',
      '2024-01-17T02:34:41.217753Z',
      '2024-01-17T02:34:41Z',
      '2024-13-01T00:00:00Z',
      '2024-01-17',
      '9999999999',
      '2147483648',
      '%00',
      '%ff',
      '%',
      '+',
    ),
    cursors(realCursors).map(encodeURIComponent),
    fc.string({ maxLength: 20 }).map(encodeURIComponent),
  );
  const name = fc.constantFrom(
    'limit',
    'before',
    'tipo',
    'desde',
    'ate',
    'valor_min',
    'valor_max',
    'x',
    'limit[]',
    '',
    'LIMIT',
    'before%00',
  );
  const parameter = fc.oneof(
    fc.tuple(name, value).map(([key, text]) => `${key}=${text}`),
    name,
  );
  return fc
    .array(parameter, { maxLength: 5 })
    .map((parameters) => (parameters.length === 0 ? '' : `?${parameters.join('&')}`));
}

/** The keys the fuzzer reuses, so one key meets other bodies, methods and clients. */
const REUSED_KEYS = ['fuzz-k1', 'fuzz-k2', 'fuzz-k3'];

const headerArbitraries = {
  authorization: fc.oneof(
    hex(64).map((key) => `Bearer ${key}`),
    fc.constantFrom(
      'Bearer',
      'Bearer ',
      'bearer x',
      'Basic dXNlcjpwYXNz',
      'Bearer a b',
      `Bearer ${'a'.repeat(6000)}`,
      'Token 123',
    ),
    visibleAscii(200),
    headerBytes(60),
  ),
  idempotencyKey: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...REUSED_KEYS) },
    { weight: 2, arbitrary: visibleAscii(300) },
    { weight: 1, arbitrary: headerBytes(40) },
  ),
  contentType: fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    '',
    'application/json\u00ff',
  ),
  extra: fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), headerBytes(100)), { maxLength: 5 }),
};

const validBody = fc.record({
  valor: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 2_000_000 })),
  tipo: fc.constantFrom('c', 'd'),
  descricao: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }),
});
/** A transfer's body: a payee that exists, is the payer, is no client or is no id at all. */
const validTransferBody = fc.record({
  para: fc.oneof(fc.constantFrom(1, 2, 3, 4, 5), fc.constantFrom(0, 6, -1, 2147483648), fc.integer()),
  valor: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 2_000_000 })),
  descricao: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }),
});
type Body = Record<string, unknown>;
const FIELDS = ['valor', 'tipo', 'descricao'] as const;
const TRANSFER_FIELDS = ['para', 'valor', 'descricao'] as const;
const ODD_VALUES = [
  1.5,
  '10',
  1e300,
  -1,
  0,
  2147483648,
  9007199254740993,
  null,
  true,
  [],
  {},
  '',
  'c ',
  'C',
  'cd',
  '😀'.repeat(11),
  'a'.repeat(11),
  '\u0000',
];

/** Valid bodies changed in their structure: a field replaced, removed or added, the whole replaced. */
const structuralBodies = fc.oneof(
  { weight: 3, arbitrary: validBody.map((body) => JSON.stringify(body)) },
  { weight: 2, arbitrary: validTransferBody.map((body) => JSON.stringify(body)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        validTransferBody,
        fc.constantFrom(...TRANSFER_FIELDS),
        fc.oneof(fc.constantFrom(...ODD_VALUES), fc.jsonValue()),
      )
      .map(([body, field, value]) => JSON.stringify({ ...body, [field]: value })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(validBody, fc.constantFrom(...FIELDS), fc.oneof(fc.constantFrom(...ODD_VALUES), fc.jsonValue()))
      .map(([body, field, value]) => JSON.stringify({ ...body, [field]: value })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(validBody, fc.constantFrom(...FIELDS))
      .map(([body, field]) => JSON.stringify({ ...body, [field]: undefined })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(validBody, fc.string({ maxLength: 10 }), fc.jsonValue())
      .map(([body, key, value]) => JSON.stringify({ ...body, [key]: value } as Body)),
  },
  { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: validBody.map((body) => JSON.stringify([body])) },
  // Texts JSON.stringify never writes: duplicate keys, number spellings, BOM, trailing bytes.
  {
    weight: 1,
    arbitrary: validBody.chain((body) =>
      fc.constantFrom(
        `{"valor":${body.valor},"valor":"x","tipo":"${body.tipo}","descricao":"a"}`,
        `{"valor":${body.valor}.0,"tipo":"c","descricao":"a"}`,
        `{"valor":1e2,"tipo":"c","descricao":"a"}`,
        `{"valor":-0,"tipo":"c","descricao":"a"}`,
        `{"valor":01,"tipo":"c","descricao":"a"}`,
        `\ufeff{"valor":1,"tipo":"c","descricao":"a"}`,
        `{"valor":1,"tipo":"c","descricao":"a"} {}`,
        `{"valor":1,"tipo":"c","descricao":"\\ud800"}`,
        `{"valor":1,"tipo":"c","descricao":"a\\u0000"}`,
        '{"valor":1,"tipo":"c","descricao":"a"',
        'null',
        '',
      ),
    ),
  },
);

/** A body's bytes with a few flipped, inserted or deleted. */
function mutateBytes(bytes: Buffer, edits: [at: number, byte: number, edit: 'flip' | 'insert' | 'delete'][]): Buffer {
  let out = Buffer.from(bytes);
  for (const [at, byte, edit] of edits) {
    const index = out.length === 0 ? 0 : at % out.length;
    if (edit === 'flip' && out.length > 0) out[index] = byte;
    else if (edit === 'insert') out = Buffer.concat([out.subarray(0, index), Buffer.from([byte]), out.subarray(index)]);
    else if (edit === 'delete') out = Buffer.concat([out.subarray(0, index), out.subarray(index + 1)]);
  }
  return out;
}

const byteEdits = fc.array(
  fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('flip' as const, 'insert' as const, 'delete' as const)),
  { minLength: 1, maxLength: 4 },
);

const bodies = fc.oneof(
  { weight: 4, arbitrary: structuralBodies.map((text) => Buffer.from(text)) },
  {
    weight: 3,
    arbitrary: fc.tuple(structuralBodies, byteEdits).map(([text, edits]) => mutateBytes(Buffer.from(text), edits)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: BODY_SIZE_BYTES_MAX + 200 }).map((bytes) => Buffer.from(bytes)) },
);

const METHODS = [
  'GET',
  'POST',
  'HEAD',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'TRACE',
  'PROPFIND',
  'get',
  'POSTX',
  'CONNECT',
];

export interface StructuredRequest {
  method: string;
  target: string;
  headers: [name: string, value: string][];
  body: Buffer | undefined;
  framing: 'content-length' | 'chunked' | 'none';
}

/** The request on the wire, its Content-Length true to its body (framing tricks are the raw requests' business). */
export function render(request: StructuredRequest): Buffer {
  const lines = [
    `${request.method} ${request.target} HTTP/1.1`,
    'Host: localhost',
    'Connection: close',
    ...request.headers.map(([name, value]) => `${name}: ${value}`),
  ];
  let body = request.body ?? Buffer.alloc(0);
  if (request.body !== undefined && request.framing === 'content-length') lines.push(`Content-Length: ${body.length}`);
  if (request.body !== undefined && request.framing === 'chunked') {
    lines.push('Transfer-Encoding: chunked');
    body = Buffer.concat([
      Buffer.from(`${body.length.toString(16)}\r\n`),
      body,
      Buffer.from(body.length === 0 ? '\r\n' : '\r\n0\r\n\r\n'),
    ]);
  }
  return Buffer.concat([Buffer.from(`${lines.join(CRLF)}${CRLF}${CRLF}`, 'latin1'), body]);
}

export function structuredRequests(realCursors: readonly string[]): fc.Arbitrary<StructuredRequest> {
  const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
  return fc
    .record({
      method: fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom('POST', 'GET') },
        { weight: 2, arbitrary: fc.constantFrom(...METHODS) },
      ),
      path: paths,
      query: fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 2, arbitrary: queries(realCursors) }),
      authorization: optional(headerArbitraries.authorization),
      idempotencyKey: optional(headerArbitraries.idempotencyKey),
      secondKey: optional(headerArbitraries.idempotencyKey),
      contentType: optional(headerArbitraries.contentType),
      extra: headerArbitraries.extra,
      body: optional(bodies),
      framing: fc.constantFrom(
        'content-length' as const,
        'content-length' as const,
        'chunked' as const,
        'none' as const,
      ),
    })
    .map((drawn) => {
      const headers: [string, string][] = [];
      if (drawn.authorization !== undefined) headers.push(['Authorization', drawn.authorization]);
      if (drawn.idempotencyKey !== undefined) headers.push(['Idempotency-Key', drawn.idempotencyKey]);
      if (drawn.idempotencyKey !== undefined && drawn.secondKey !== undefined)
        headers.push(['Idempotency-Key', drawn.secondKey]);
      if (drawn.contentType !== undefined) headers.push(['Content-Type', drawn.contentType]);
      headers.push(...drawn.extra);
      return {
        method: drawn.method,
        target: `${drawn.path}${drawn.query}`,
        headers,
        body: drawn.body,
        framing: drawn.framing,
      };
    });
}

// --- Raw requests ------------------------------------------------------------

/** Requests broken in ways a structured one cannot be: framing, syntax, size. */
const BROKEN_REQUESTS = [
  'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{"a":1}',
  'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
  'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n',
  'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
  'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
  'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\n{}}\r\n0\r\nTrailer: x\r\n\r\n',
  'GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n',
  'GET /clientes/1/extrato HTTP/1.1\nHost: x\n\n',
  'GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n',
  'GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\nNul: a\u0000b\r\n\r\n',
  'GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n',
  'GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
  'GET /clientes/1/extrato HTTP/1.1\r\n\r\n',
  'GET /clientes/1/extrato HTTP/1.0\r\n\r\n',
  'GET /clientes/1/extrato\r\n\r\n',
  'GET /clientes/1/extrato HTTP/2.0\r\nHost: x\r\n\r\n',
  'GET /clientes/1/extrato HTTP/1.1 extra\r\nHost: x\r\n\r\n',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'GET  /clientes/1/extrato  HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n',
  'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 45\r\n\r\n{"valor":1,"tipo":"c","descricao":"expect"}  ',
  'GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  'GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\nGET /clientes/2/extrato HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n',
  `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
  `GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(9000)}\r\n\r\n`,
  `GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 200 }, (_, index) => `X-H${index}: ${index}`).join('\r\n')}\r\n\r\n`,
  `POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY_SIZE_BYTES_MAX + 1}\r\n\r\n${'x'.repeat(BODY_SIZE_BYTES_MAX + 1)}`,
];

export function rawRequests(realCursors: readonly string[]): fc.Arbitrary<FuzzRequest> {
  const raw = (bytes: Buffer): FuzzRequest => ({ bytes, head: false, halfClose: true });
  return fc.oneof(
    fc.constantFrom(...BROKEN_REQUESTS).map((text) => raw(Buffer.from(text, 'latin1'))),
    fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((bytes) => raw(Buffer.from(bytes))),
    fc
      .tuple(structuredRequests(realCursors), byteEdits)
      .map(([request, edits]) => raw(mutateBytes(render(request), edits))),
  );
}

export function fuzzRequests(realCursors: readonly string[]): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: structuredRequests(realCursors).map((request) => ({
        bytes: render(request),
        head: request.method === 'HEAD',
        halfClose: false,
      })),
    },
    { weight: 1, arbitrary: rawRequests(realCursors) },
  );
}
