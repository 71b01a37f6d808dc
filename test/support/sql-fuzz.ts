// The SQL fuzzer's parts (test/database/sql-fuzz.test.ts): the functions
// the instances' role may EXECUTE, read from the catalogue, and fast-check
// arbitraries for their arguments by type, so that a function granted
// tomorrow is fuzzed too (a type without an arbitrary fails the test).
// Values come mostly from the ledger's own vocabulary (the seeded clients,
// c and d, short descriptions, real API key proofs), so that many calls are
// valid and move money, and otherwise from its edges: NULLs, zero and
// negative amounts, the integer extremes, control and invisible characters,
// arrays that do not start at 1, arrays in two dimensions, arrays whose
// lengths differ.

import fc from 'fast-check';
import type pg from 'pg';

export interface GrantedFunction {
  /** As regprocedure prints it: name(type, ...). */
  signature: string;
  /** The argument types, as format_type names them ('integer[]', 'text', ...). */
  argumentTypes: string[];
  /** The argument names ('' for none): a hint at which values mean something (tipo: c or d). */
  argumentNames: string[];
}

/** Every function of the schema the role may call, PUBLIC's grants included. */
export async function grantedFunctions(client: pg.Client, role: string): Promise<GrantedFunction[]> {
  const { rows } = await client.query<{ signature: string; types: string[]; names: string[] }>(
    `
    SELECT p.oid::regprocedure::text AS signature,
           coalesce((SELECT array_agg(format_type(t.type, NULL) ORDER BY t.n)
                       FROM unnest(p.proargtypes) WITH ORDINALITY AS t (type, n)), '{}') AS types,
           coalesce((SELECT array_agg(coalesce(p.proargnames[t.n], '') ORDER BY t.n)
                       FROM generate_series(1, p.pronargs) AS t (n)), '{}') AS names
      FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace AND has_function_privilege($1, p.oid, 'EXECUTE')
     ORDER BY 1`,
    [role],
  );
  return rows.map((row) => ({ signature: row.signature, argumentTypes: row.types, argumentNames: row.names }));
}

/** One argument as sent: a parameter value and the type it is cast to. */
export interface Argument {
  value: unknown;
  type: string;
}

/** Values drawn from the key proofs the test made (real keys, revoked, read-only...). */
export interface FuzzVocabulary {
  proofs: Buffer[];
}

const INTEGER_EDGES = [0, -1, 6, 2_147_483_647, -2_147_483_648];
const TEXT_EDGES = [
  '',
  ' ',
  '   ',
  'cc',
  'C',
  'abcdefghijk',
  'a\u0001b',
  'a\nb',
  '\u200b',
  'a\u202eb',
  '\ufeffx',
  'ação',
  '🙂🙂',
  'k y',
  'x'.repeat(300),
];

const sometimesNull = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  fc.oneof({ arbitrary, weight: 40 }, { arbitrary: fc.constant(null), weight: 1 });

/** Text whose argument's name says what it means: a tipo is mostly c or d, an idempotency key mostly fresh. */
function namedText(name: string): fc.Arbitrary<string> | undefined {
  if (/tipo/.test(name)) return fc.constantFrom('c', 'd');
  if (/^p_chaves?$/.test(name)) return fc.stringMatching(/^[!-~]{1,16}$/);
  return undefined;
}

function scalar(type: string, name: string, vocabulary: FuzzVocabulary): fc.Arbitrary<unknown> | undefined {
  const named = type === 'bytea' ? undefined : namedText(name);
  if (named !== undefined && /^(text|character|character varying)$/.test(type)) {
    return fc.oneof({ arbitrary: named, weight: 30 }, { arbitrary: fc.constantFrom(...TEXT_EDGES), weight: 1 });
  }
  switch (type) {
    case 'integer':
      return fc.oneof(
        { arbitrary: fc.integer({ min: 1, max: 5 }), weight: 12 },
        { arbitrary: fc.integer({ min: 1, max: 100_000 }), weight: 6 },
        { arbitrary: fc.constantFrom(...INTEGER_EDGES), weight: 1 },
        { arbitrary: fc.integer(), weight: 1 },
      );
    case 'bigint':
      return fc
        .oneof(
          fc.bigInt({ min: 1n, max: 100n }),
          fc.constantFrom(0n, -1n, 9_007_199_254_740_991n, 9_223_372_036_854_775_807n),
        )
        .map(String);
    case 'text':
    case 'character varying':
    case 'character':
      return fc.oneof(
        { arbitrary: fc.constantFrom('c', 'd'), weight: 12 },
        { arbitrary: fc.constantFrom('x', 'pix', 'k1', 'k2'), weight: 8 },
        { arbitrary: fc.string({ minLength: 1, maxLength: 10 }), weight: 8 },
        { arbitrary: fc.constantFrom(...TEXT_EDGES), weight: 1 },
        {
          arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).filter((text) => !text.includes('\u0000')),
          weight: 1,
        },
      );
    case 'bytea':
      // A proof of a real key (one for every client, one for two, a read-only
      // one, a revoked one), none, or bytes that prove nothing.
      return fc.oneof(
        { arbitrary: fc.constantFrom(...vocabulary.proofs), weight: 4 },
        { arbitrary: fc.constant(null), weight: 4 },
        { arbitrary: fc.uint8Array({ minLength: 0, maxLength: 40 }).map((bytes) => Buffer.from(bytes)), weight: 1 },
      );
    case 'boolean':
      return fc.boolean();
    case 'timestamp with time zone':
      return fc.constantFrom(
        '2024-01-17T02:34:41Z',
        '-infinity',
        'infinity',
        '1970-01-01T00:00:00Z',
        new Date().toISOString(),
      );
    default:
      return undefined;
  }
}

/** How an array element is written inside an array literal: quoted, or NULL. */
function element(value: unknown): string {
  if (value === null) return 'NULL';
  const text = Buffer.isBuffer(value) ? `\\x${value.toString('hex')}` : String(value);
  return `"${text.replace(/[\\"]/g, (character) => `\\${character}`)}"`;
}

/** An array literal with explicit bounds: '[0:1]={"3","4"}', in two dimensions '[1:2][1:1]={{"3"},{"4"}}'. */
function arrayLiteral(values: unknown[], lowerBound: number, twoDimensions: boolean): string {
  if (values.length === 0) return '{}';
  const upper = lowerBound + values.length - 1;
  if (twoDimensions) return `[${lowerBound}:${upper}][1:1]={${values.map((value) => `{${element(value)}}`).join(',')}}`;
  return `[${lowerBound}:${upper}]={${values.map(element).join(',')}}`;
}

/** An arbitrary for one argument of this type, the call's arrays most often `length` long; undefined: unknown type. */
export function argumentArbitrary(
  type: string,
  name: string,
  length: number,
  vocabulary: FuzzVocabulary,
): fc.Arbitrary<Argument> | undefined {
  if (!type.endsWith('[]')) {
    const value = scalar(type, name, vocabulary);
    return value === undefined ? undefined : sometimesNull(value).map((drawn) => ({ value: drawn, type }));
  }
  const item = scalar(type.slice(0, -2), name, vocabulary);
  if (item === undefined) return undefined;
  const shape = fc.record({
    length: fc.oneof(
      { arbitrary: fc.constant(length), weight: 40 },
      { arbitrary: fc.integer({ min: 0, max: 5 }), weight: 1 },
    ),
    lowerBound: fc.oneof(
      { arbitrary: fc.constant(1), weight: 40 },
      { arbitrary: fc.constantFrom(0, 2, -3), weight: 1 },
    ),
    twoDimensions: fc.oneof({ arbitrary: fc.constant(false), weight: 60 }, { arbitrary: fc.constant(true), weight: 1 }),
  });
  const array = shape.chain(({ length: size, lowerBound, twoDimensions }) =>
    fc
      .array(fc.oneof({ arbitrary: item, weight: 60 }, { arbitrary: fc.constant(null), weight: 1 }), {
        minLength: size,
        maxLength: size,
      })
      .map((values) => arrayLiteral(values, lowerBound, twoDimensions)),
  );
  return sometimesNull(array).map((value) => ({ value, type }));
}

/** The arbitrary of a whole call to `fn`, or the first type no arbitrary covers. */
export function callArbitrary(
  fn: GrantedFunction,
  vocabulary: FuzzVocabulary,
): fc.Arbitrary<Argument[]> | { unknownType: string } {
  const arbitraryAt = (length: number) =>
    fn.argumentTypes.map((type, index) => argumentArbitrary(type, fn.argumentNames[index] ?? '', length, vocabulary));
  const unknownAt = arbitraryAt(1).findIndex((arbitrary) => arbitrary === undefined);
  if (unknownAt >= 0) return { unknownType: fn.argumentTypes[unknownAt]! };
  return fc
    .integer({ min: 0, max: 4 })
    .chain((length) => fc.tuple(...(arbitraryAt(length) as fc.Arbitrary<Argument>[])));
}

/** The statement that calls `fn` with these arguments, each cast to its type. */
export function callText(fn: GrantedFunction, args: Argument[]): string {
  const name = fn.signature.slice(0, fn.signature.indexOf('('));
  // 'character' alone is char(1), whose cast would cut 'cc' to 'c' before the function sees it.
  const castTo = (type: string) => type.replace(/^character(?= |\[|$)(?! varying)/, 'bpchar');
  const placeholders = args.map((argument, index) => `$${index + 1}::${castTo(argument.type)}`);
  return `SELECT * FROM ${name}(${placeholders.join(', ')})`;
}
