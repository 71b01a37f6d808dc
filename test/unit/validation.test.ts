// The pure input rules as tables of input -> expected output. The HTTP-level
// table (test/support/contract.ts) covers the same rules end to end.

import { describe, expect, it } from 'vitest';
import { failures } from '../../src/shared/failures.js';
import { countStorableCharacters, parseClientId, parseTransactionBody } from '../../src/instance/http/validation.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('parseClientId', () => {
  it.each([
    ['1', 1], ['5', 5], ['6', 6], ['2147483647', 2147483647],
    ['0', undefined], ['01', undefined], ['-1', undefined], ['', undefined], ['1.0', undefined],
    ['abc', undefined], ['2147483648', undefined], ['12345678901', undefined], [' 1', undefined],
  ])('%j -> %j', (text, expected) => {
    expect(parseClientId(text)).toBe(expected);
  });
});

describe('countStorableCharacters', () => {
  it.each([
    ['abc', 3], ['', 0], ['😀', 1], ['😀😀', 2], ['ação', 4],
    ['a\ud800', -1], ['\udc00a', -1], ['a\u0000', -1],
  ])('%j -> %j', (text, expected) => {
    expect(countStorableCharacters(text)).toBe(expected);
  });
});

describe('parseTransactionBody', () => {
  it.each([
    ['{"valor":1,"tipo":"c","descricao":"x"}', { valor: 1, tipo: 'c', descricao: 'x' }],
    ['{"valor":2147483647,"tipo":"d","descricao":"0123456789"}', { valor: 2147483647, tipo: 'd', descricao: '0123456789' }],
    ['{"valor":1.0,"tipo":"c","descricao":"x","extra":true}', { valor: 1, tipo: 'c', descricao: 'x' }],
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
