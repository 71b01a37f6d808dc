// The pure input rules as tables of input -> expected output. The HTTP-level
// table (test/support/contract.ts) covers the same rules end to end.

import { describe, expect, it } from 'vitest';
import { failures } from '../../src/shared/failures.js';
import { countStorableCharacters, parseClientId, parseTransactionBody } from '../../src/instance/http/validation.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('parseClientId', () => {
  it.each([
    ['1', 1],
    ['5', 5],
    ['6', 6],
    ['2147483647', 2147483647],
    ['0', undefined],
    ['01', undefined],
    ['-1', undefined],
    ['', undefined],
    ['1.0', undefined],
    ['abc', undefined],
    ['2147483648', undefined],
    ['12345678901', undefined],
    [' 1', undefined],
  ])('%j -> %j', (text, expected) => {
    expect(parseClientId(text)).toBe(expected);
  });
});

describe('countStorableCharacters', () => {
  it.each([
    ['abc', 3],
    ['', 0],
    ['😀', 1],
    ['😀😀', 2],
    ['ação', 4],
    ['a\ud800', -1],
    ['\udc00a', -1],
    ['a\u0000', -1],
  ])('%j -> %j', (text, expected) => {
    expect(countStorableCharacters(text)).toBe(expected);
  });
});

// Money typed as a fraction was rounded: JSON.parse reads 0.99999999999999999
// as 1, so it was booked as 1 with a 200. Only the digits as written count.
describe('regression: money typed as a fraction was rounded (valor is taken only as plain digits)', () => {
  const withValor = (text: string) => `{"valor":${text},"tipo":"c","descricao":"x"}`;
  it.each([
    ['1', 1],
    ['7', 7],
    ['10', 10],
    ['2147483647', 2147483647],
    ['0.99999999999999999', failures.invalidValor],
    ['1.0000000000000001', failures.invalidValor],
    ['1.0', failures.invalidValor],
    ['1.00', failures.invalidValor],
    ['1e3', failures.invalidValor],
    ['1E3', failures.invalidValor],
    ['1e+3', failures.invalidValor],
    ['10e-1', failures.invalidValor],
    ['1000e0', failures.invalidValor],
    ['-1', failures.invalidValor],
    ['-0', failures.invalidValor],
    ['0', failures.invalidValor],
    ['1.5', failures.invalidValor],
    ['2147483648', failures.invalidValor],
  ])('valor written %s', (text, expected) => {
    const answer = parseTransactionBody(bytes(withValor(text)));
    expect(answer).toEqual(typeof expected === 'number' ? { valor: expected, tipo: 'c', descricao: 'x' } : expected);
  });

  it.each([
    // Whitespace around it, and other members around it, change nothing.
    ['{ "valor" :  12 , "tipo":"c","descricao":"x"}', 12],
    ['{"extra":"\\"valor\\": 1.5","tipo":"c","descricao":"x","valor":3}', 3],
    ['{"nested":{"valor":1.5},"valor":4,"tipo":"c","descricao":"x"}', 4],
    ['{"list":[{"valor":1.5}],"tipo":"c","descricao":"x","valor":5}', 5],
    // JSON.parse keeps the last of a repeated key; so does the scan.
    ['{"valor":1.5,"valor":6,"tipo":"c","descricao":"x"}', 6],
    ['{"valor":6,"valor":1.0,"tipo":"c","descricao":"x"}', failures.invalidValor],
    // An escaped key is the same key.
    ['{"val\\u006fr":1.0,"tipo":"c","descricao":"x"}', failures.invalidValor],
    ['{"val\\u006fr":8,"tipo":"c","descricao":"x"}', 8],
  ])('%s', (body, expected) => {
    const answer = parseTransactionBody(bytes(body));
    expect(answer).toEqual(typeof expected === 'number' ? { valor: expected, tipo: 'c', descricao: 'x' } : expected);
  });
});

describe('parseTransactionBody', () => {
  it.each([
    ['{"valor":1,"tipo":"c","descricao":"x"}', { valor: 1, tipo: 'c', descricao: 'x' }],
    [
      '{"valor":2147483647,"tipo":"d","descricao":"0123456789"}',
      { valor: 2147483647, tipo: 'd', descricao: '0123456789' },
    ],
    ['{"valor":1,"tipo":"c","descricao":"x","extra":true}', { valor: 1, tipo: 'c', descricao: 'x' }],
    ['{"valor":1,"tipo":"c","descricao":"x"}x', failures.malformedJson],
    ['', failures.malformedJson],
    ['[]', failures.notAnObject],
    ['null', failures.notAnObject],
    ['{"valor":"10","tipo":"c","descricao":"x"}', failures.invalidValor],
    ['{"valor":2147483648,"tipo":"c","descricao":"x"}', failures.invalidValor],
    ['{"valor":1,"tipo":"C","descricao":"x"}', failures.invalidTipo],
    ['{"valor":1,"tipo":"c","descricao":"😀😀😀😀😀😀😀😀😀😀😀"}', failures.invalidDescricao],
  ])('%s', (body, expected) => {
    expect(parseTransactionBody(bytes(body))).toEqual(expected);
  });
});

describe('regression: descricao took control and invisible characters, stored as sent and shown unlike it', () => {
  it.each([
    ['\\u0001', 'a control character'],
    ['a\\nb', 'a newline'],
    ['a\\tb', 'a tab'],
    ['\\u200b', 'a zero-width space'],
    ['abc\\u202edef', 'a right-to-left override'],
    ['\\ufeffx', 'a byte order mark'],
    ['x\\u2066y', 'a direction isolate'],
    ['\\u3164', 'a Hangul filler'],
    ['x\\udb40\\udc41', 'a tag character'],
  ])('%s (%s) is refused with 422 descricao_invalida', (escaped) => {
    expect(parseTransactionBody(bytes(`{"valor":1,"tipo":"c","descricao":"${escaped}"}`))).toBe(
      failures.invalidDescricao,
    );
  });

  it.each(['   ', 'a b', 'ação', '😀'])('%j is still a descricao: it shows as it is stored', (descricao) => {
    expect(parseTransactionBody(bytes(JSON.stringify({ valor: 1, tipo: 'c', descricao })))).toEqual({
      valor: 1,
      tipo: 'c',
      descricao,
    });
  });
});
