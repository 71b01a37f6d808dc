// The SQL fuzzer: random argument tuples for every function the instances'
// role may EXECUTE (found in the catalogue, so a function granted later is
// fuzzed too), called as that role, the way a compromised instance could.
// After every call the books must be exact (test/support/books.ts), every
// outcome a transaction function answers a code of the API's catalogue, and
// a call that did not succeed refused as bad data (SQLSTATE class 22), never
// failing some other way: an integrity violation (class 23) means a check the
// function should have made was left to a constraint, which stops the money
// but fails the whole call (a batch's valid items with it). Seeded and bounded: the same calls every run.

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_ROLE } from '../../src/stack/database-roles.js';
import { failureForCode } from '../../src/shared/failures.js';
import { createKey } from '../../tools/keys/keys.js';
import { booksProblems } from '../support/books.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import {
  callArbitrary,
  callText,
  grantedFunctions,
  type Argument,
  type GrantedFunction,
  type FuzzVocabulary,
} from '../support/sql-fuzz.js';

/** Calls per function and phase: with the functions granted today, about 20 s in all. */
const RUNS_PER_FUNCTION = 300;
const SEED = 240_124;
/** Refusals as bad data: class 22, data exception (22023 is the functions' own; 22P02 and kin come from binding). */
const REFUSAL_CLASSES = new Set(['22']);
// The functions that move money: the transactions and registrar_movimentos (transfers, 09-transfers.sql).
const TRANSACTION_FUNCTIONS = /^registrar_(transacoes?|movimentos)\(/;

let database: TestDatabase;
let api: pg.Client;
let owner: pg.Client;
let functions: GrantedFunction[];
const vocabulary: FuzzVocabulary = { proofs: [] };

beforeAll(async () => {
  database = await createTestDatabase();
  api = new pg.Client({ connectionString: database.url });
  owner = new pg.Client({ connectionString: database.ownerUrl });
  await Promise.all([api.connect(), owner.connect()]);
  await api.query("SET statement_timeout = '5s'");
  functions = await grantedFunctions(owner, INSTANCE_ROLE);
  const keys = [
    { name: 'todos', clients: 'all', scope: 'read-write' },
    { name: 'um-dois', clients: [1, 2], scope: 'read-write' },
    { name: 'leitora', clients: 'all', scope: 'read' },
    { name: 'revogada', clients: 'all', scope: 'read-write' },
  ] as const;
  for (const key of keys) {
    const clients = key.clients === 'all' ? 'all' : [...key.clients];
    const secret = await createKey(owner, { name: key.name, clients, scope: key.scope, expiresInS: undefined });
    vocabulary.proofs.push(createHash('sha256').update(secret).digest());
  }
  await owner.query("UPDATE chaves_api SET revogada_em = now() WHERE nome = 'revogada'");
});

afterAll(async () => {
  await Promise.all([api?.end(), owner?.end()]);
  await database?.close();
});

/** What is wrong with one call's outcome, beyond the books; undefined when nothing. */
async function callProblem(fn: GrantedFunction, args: Argument[]): Promise<string | undefined> {
  let rows: Record<string, unknown>[];
  try {
    rows = (
      await api.query(
        callText(fn, args),
        args.map((argument) => argument.value),
      )
    ).rows;
  } catch (error) {
    const code = String((error as { code?: unknown }).code);
    if (REFUSAL_CLASSES.has(code.slice(0, 2))) return undefined;
    return `failed with ${code} (${(error as Error).message}), not as a refusal`;
  }
  if (!TRANSACTION_FUNCTIONS.test(fn.signature)) return undefined;
  const known = (row: Record<string, unknown>) =>
    row.resultado === 'aplicada' || failureForCode(String(row.resultado)) !== undefined;
  const unknown = rows.find((row) => !known(row));
  return unknown === undefined ? undefined : `answered ${String(unknown.resultado)}, no code of the catalogue`;
}

/** Rows written since `sinceId` without an API key: none may be once the owner requires keys. */
async function keylessRowsSince(sinceId: number): Promise<number> {
  const text = 'SELECT count(*)::int AS n FROM transacoes WHERE id > $1 AND chave_api_id IS NULL';
  return (await database.query<{ n: number }>(text, [sinceId]))[0]!.n;
}

async function fuzz(fn: GrantedFunction, seedOffset: number, keysRequired: boolean): Promise<void> {
  const call = callArbitrary(fn, vocabulary);
  if ('unknownType' in call) {
    throw new Error(`${fn.signature}: no arbitrary for ${call.unknownType}; add one to test/support/sql-fuzz.ts`);
  }
  await owner.query('UPDATE configuracao SET chave_api_obrigatoria = $1', [keysRequired]);
  const last = await database.query<{ id: number }>('SELECT coalesce(max(id), 0)::int AS id FROM transacoes');
  const sinceId = last[0]!.id;
  await fc.assert(
    fc.asyncProperty(call, async (args) => {
      const problem = await callProblem(fn, args);
      const problems = [...(problem === undefined ? [] : [problem]), ...(await booksProblems(database))];
      if (keysRequired && (await keylessRowsSince(sinceId)) > 0) problems.push('a row without a key, keys required');
      const values = JSON.stringify(args.map((argument) => argument.value));
      if (problems.length > 0) throw new Error(`${callText(fn, args)} with ${values}:\n${problems.join('\n')}`);
    }),
    { seed: SEED + seedOffset, numRuns: RUNS_PER_FUNCTION, endOnFailure: true },
  );
}

describe("the ledger's functions, called by a caller that is not the API", () => {
  it("the catalogue names the functions the instances' role may call, the transaction functions among them", () => {
    const signatures = functions.map((fn) => fn.signature);
    const writers = [expect.stringMatching(/^registrar_transacao\(/), expect.stringMatching(/^registrar_transacoes\(/)];
    expect(signatures).toEqual(expect.arrayContaining(writers));
  });

  it('leave the books exact whatever arguments they get, or refuse them as bad data', async () => {
    for (const [index, fn] of functions.entries()) await fuzz(fn, index, false);
    // Enough valid calls to matter: money moved.
    expect(await database.transactionCount()).toBeGreaterThan(100);
  }, 120_000);

  it('write nothing without an API key while the owner requires keys', async () => {
    const writers = functions.filter((candidate) => TRANSACTION_FUNCTIONS.test(candidate.signature));
    for (const [index, fn] of writers.entries()) await fuzz(fn, 100 + index, true);
  }, 120_000);
});
