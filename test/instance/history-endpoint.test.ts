// The full history (GET /clientes/{id}/transacoes) against a real instance
// and database: walking every page while writes continue, saldo_apos line by
// line, filters against the rows themselves, bad parameters, and the plan
// of a full page read from PostgreSQL itself (auto_explain).

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { getStatement, postTransaction, request } from '../support/http.js';
import { decodeCursor } from '../../src/instance/ledger/history-cursor.js';
import { HISTORY_SCAN_ROWS_MAX } from '../../src/shared/limits.js';
import { startInstance, type RunningInstance } from '../support/instance.js';
import { waitFor } from '../../src/shared/wait.js';
import { readAdminHealth } from '../support/health.js';
import { operationHealth } from '../../src/instance/ledger/ledger.js';

interface Entry {
  id: number;
  valor: number;
  tipo: 'c' | 'd';
  descricao: string;
  realizada_em: string;
  saldo_apos: number;
}

let database: TestDatabase;
let instance: RunningInstance;

beforeAll(async () => {
  database = await createTestDatabase();
  instance = await startInstance({ databaseUrl: database.url });
  // Client 1's history: 300 rows, a few of them refused debits (no row).
  for (let index = 1; index <= 300; index++) {
    const tipo = index % 3 === 0 ? 'd' : 'c';
    await database.query('SELECT registrar_transacao($1, $2, $3, $4)', [
      1,
      ((index * 37) % 5000) + 1,
      tipo,
      `h${index}`,
    ]);
  }
  // Other clients interleaved, so a page must skip nothing and take nothing of theirs.
  for (let index = 1; index <= 100; index++)
    await database.query("SELECT registrar_transacao($1, 1, 'c', 'outro')", [2 + (index % 4)]);
});

afterAll(async () => {
  await instance?.stop();
  await database?.close();
});

const history = (clientId: number, query = '') =>
  request(instance.baseUrl, 'GET', `/clientes/${clientId}/transacoes${query}`);
/** A page of client 5's selective filter, the one that reads a page's whole scan bound, from any instance. */
const history5On = (baseUrl: string) => request(baseUrl, 'GET', '/clientes/5/transacoes?valor_min=2000000000&limit=1');

/** Every page from the newest, following next; each page checked as it comes. */
async function walk(clientId: number, query: string, during?: () => Promise<void>): Promise<Entry[]> {
  const entries: Entry[] = [];
  let next: string | undefined;
  do {
    const page = await history(clientId, `?${query}${next === undefined ? '' : `&before=${next}`}`);
    expect(page.status, page.text).toBe(200);
    entries.push(...page.body.transacoes);
    next = page.body.next;
    await during?.();
  } while (next !== undefined);
  return entries;
}

const delta = (entry: { valor: number; tipo: string }) => (entry.tipo === 'c' ? entry.valor : -entry.valor);

describe('walking the pages', () => {
  it('returns every transaction exactly once, newest first, while writes continue', async () => {
    const existing = (
      await database.query<{ id: string }>('SELECT id FROM transacoes WHERE cliente_id = 1 ORDER BY id DESC')
    ).map((row) => Number(row.id));
    let written = 0;
    const entries = await walk(1, 'limit=7', async () => {
      // Between pages: new rows for this client, and refused debits.
      for (let index = 0; index < 3; index++)
        await postTransaction(instance.baseUrl, 1, { valor: 1 + index, tipo: 'c', descricao: `novo${written++}` });
      await postTransaction(instance.baseUrl, 1, { valor: 10_000_000, tipo: 'd', descricao: 'recusado' });
    });
    // Exactly the rows that existed when the walk began, newest first, once
    // each: rows written meanwhile have higher ids than any cursor.
    expect(entries.map((entry) => entry.id)).toEqual(existing);
    expect(written).toBeGreaterThan(100);
  });

  it('saldo_apos is the previous line plus or minus the amount, and the newest line is the balance', async () => {
    const entries = await walk(1, 'limit=100');
    const oldestFirst = [...entries].reverse();
    let balance = 0;
    for (const entry of oldestFirst) {
      balance += delta(entry);
      expect(entry.saldo_apos, `row ${entry.id}`).toBe(balance);
    }
    expect(entries[0]!.saldo_apos).toBe(await database.balance(1));
    expect(entries.length).toBe(await database.transactionCount(1));
  });

  it('a page holds limit rows, and the last page has no next', async () => {
    const total = await database.transactionCount(3);
    const first = await history(3, `?limit=${total - 1}`);
    expect(first.body.transacoes).toHaveLength(total - 1);
    const last = await history(3, `?limit=${total - 1}&before=${first.body.next}`);
    expect(last.body.transacoes).toHaveLength(1);
    expect(last.body).not.toHaveProperty('next');
    const exact = await history(3, `?limit=${total}`);
    expect(exact.body.transacoes).toHaveLength(total);
    expect(exact.body).not.toHaveProperty('next');
    expect((await history(3)).body.transacoes).toHaveLength(Math.min(total, 20));
  });
});

describe('filters', () => {
  const matching = async (where: string, values: unknown[]) =>
    (
      await database.query<{ id: string }>(
        `SELECT id FROM transacoes WHERE cliente_id = 1 AND ${where} ORDER BY id DESC`,
        values,
      )
    ).map((row) => Number(row.id));

  it.each([
    ['tipo=d', "tipo = 'd'", []],
    ['valor_min=1000&valor_max=2000', 'valor BETWEEN 1000 AND 2000', []],
    ['tipo=c&valor_max=50', "tipo = 'c' AND valor <= 50", []],
  ])('%s returns exactly the matching rows', async (query, where, values) => {
    const ids = (await walk(1, `limit=13&${query}`)).map((entry) => entry.id);
    expect(ids).toEqual(await matching(where, values));
    expect(ids.length).toBeGreaterThan(0);
  });

  it('a time range returns exactly the rows recorded in it, from desde inclusive to ate exclusive', async () => {
    const rows = await database.query<{ realizada_em: string }>(
      'SELECT iso_utc(realizada_em) AS realizada_em FROM transacoes WHERE cliente_id = 1 ORDER BY id OFFSET 50 LIMIT 100',
    );
    const desde = rows[0]!.realizada_em;
    const ate = rows[rows.length - 1]!.realizada_em;
    const entries = await walk(1, `limit=17&desde=${desde}&ate=${ate}`);
    expect(entries.map((entry) => entry.id)).toEqual(
      await matching('realizada_em >= $1 AND realizada_em < $2', [desde, ate]),
    );
    expect(entries.length).toBe(99);
    expect(entries.every((entry) => entry.realizada_em >= desde && entry.realizada_em < ate)).toBe(true);
  });
});

describe('bad parameters', () => {
  it.each([
    ['?limit=abc', 'limit_invalido'],
    ['?limit=0', 'limit_invalido'],
    ['?limit=101', 'limit_invalido'],
    ['?tipo=x', 'tipo_invalido'],
    ['?desde=2024-13-01T00:00:00Z', 'data_invalida'],
    ['?desde=2024-02-01T00:00:00Z&ate=2024-01-01T00:00:00Z', 'intervalo_invertido'],
    ['?valor_min=500&valor_max=100', 'intervalo_invertido'],
    ['?pagina=2', 'parametro_desconhecido'],
    ['?before=', 'cursor_invalido'],
  ])('%s answers 422 %s', async (query, code) => {
    const answer = await history(1, query);
    expect(answer.status).toBe(422);
    expect(answer.body.erro).toBe(code);
  });

  it('a cursor that was tampered with, or belongs to another client, answers 422 cursor_invalido', async () => {
    const { next } = (await history(1, '?limit=5')).body as { next: string };
    const flipped = (position: number) =>
      `${next.slice(0, position)}${next[position] === 'A' ? 'B' : 'A'}${next.slice(position + 1)}`;
    // In the id (the page would start elsewhere), and in the tag.
    for (const tampered of [flipped(10), flipped(25)]) {
      const answer = await history(1, `?before=${tampered}`);
      expect([answer.status, answer.body.erro]).toEqual([422, 'cursor_invalido']);
    }
    const theirs = (await history(2, '?limit=5')).body.next as string;
    const answer = await history(1, `?before=${theirs}`);
    expect([answer.status, answer.body.erro]).toEqual([422, 'cursor_invalido']);
    expect((await history(1, `?before=${next}`)).status).toBe(200);
  });

  it('an unknown client answers 404', async () => {
    expect((await history(6)).status).toBe(404);
    expect((await request(instance.baseUrl, 'GET', '/clientes/abc/transacoes')).status).toBe(404);
  });
});

// Regression: a selective filter walked the client's whole index range
// (0.35 s over 1,000,000 rows, on the instance's one history connection), and
// readers queued behind it were shed with 503 sobrecarregado.
describe('a selective filter on a large history', () => {
  const BULK_ROWS = 300_000;
  const RARE_VALOR = 2_000_000_000;

  beforeAll(async () => {
    // The one match is the oldest row; then a long run of small credits,
    // written directly (as a restore or years of traffic would leave them),
    // each with its running balance.
    await database.query("SELECT registrar_transacao(5, $1, 'c', 'rara')", [RARE_VALOR]);
    await database.query(
      `INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos)
      SELECT 5, 1, 'c', 'massa', c.saldo + g FROM clientes c, generate_series(1, $1) g WHERE c.id = 5 ORDER BY g`,
      [BULK_ROWS],
    );
    await database.query('UPDATE clientes SET saldo = saldo + $1 WHERE id = 5', [BULK_ROWS]);
    await database.query('VACUUM ANALYZE transacoes');
  });

  const nthNewestId = async (position: number) =>
    Number(
      (
        await database.query<{ id: string }>(
          'SELECT id FROM transacoes WHERE cliente_id = 5 ORDER BY id DESC OFFSET $1 LIMIT 1',
          [position - 1],
        )
      )[0]!.id,
    );

  it('returns a bounded page with a next cursor: each page reads HISTORY_SCAN_ROWS_MAX rows, not the whole range', async () => {
    const first = await history(5, `?valor_min=${RARE_VALOR}&limit=1`);
    expect(first.status, first.text).toBe(200);
    expect(first.body.transacoes).toEqual([]);
    // The cursor names the last row the page read: exactly the bound down.
    expect(decodeCursor(first.body.next)!.beforeId).toBe(await nthNewestId(HISTORY_SCAN_ROWS_MAX));
    const second = await history(5, `?valor_min=${RARE_VALOR}&limit=1&before=${first.body.next}`);
    expect(second.body.transacoes).toEqual([]);
    expect(decodeCursor(second.body.next)!.beforeId).toBe(await nthNewestId(2 * HISTORY_SCAN_ROWS_MAX));
  });

  it('following next finds the one match, oldest, after as many pages as the bound implies', async () => {
    const entries: Entry[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const page = await history(5, `?valor_min=${RARE_VALOR}&limit=1${next === undefined ? '' : `&before=${next}`}`);
      expect(page.status, page.text).toBe(200);
      entries.push(...page.body.transacoes);
      next = page.body.next;
      pages++;
    } while (next !== undefined && pages <= BULK_ROWS);
    expect(entries.map((entry) => [entry.valor, entry.descricao])).toEqual([[RARE_VALOR, 'rara']]);
    expect(pages).toBe(Math.ceil((await database.transactionCount(5)) / HISTORY_SCAN_ROWS_MAX));
  });

  it('concurrent readers beyond the one in flight wait in the queue and all get 200', async () => {
    // Before the fix: 6 of 8 such readers got 503 sobrecarregado at once.
    const READERS = 8;
    const answers = await Promise.all(
      Array.from({ length: READERS }, () => history(5, `?valor_min=${RARE_VALOR}&limit=1`)),
    );
    expect(answers.map((answer) => [answer.status, answer.body.erro])).toEqual(answers.map(() => [200, undefined]));
  });

  // Regression: one read in flight per instance bounded how many pages
  // ran at once, not their share of the database: readers asking pages back
  // to back took a core of PostgreSQL each instance. With the budget spent,
  // pages wait in the queue and past its wait get 503 sobrecarregado, while
  // other clients' requests go on.
  it("history readers past the database time budget wait, then get 503 sobrecarregado, while another client's statement is answered", async () => {
    // 1 ms of history per second, and a queue wait of 3 s (so that the
    // statement below is answered long before the waiting pages are shed,
    // however loaded the machine): the 3.1 ms the budget allows in that time
    // (with its burst) is far less than READERS pages of 1,000 rows take
    // (a page is 1-3 ms of call time; even at 0.1 ms, 31 would pass).
    const READERS = 32;
    const paced = await startInstance({
      databaseUrl: database.url,
      name: 'budget',
      environment: {
        CREBITO_HISTORY_DB_MS_PER_SECOND: '1',
        CREBITO_QUEUE_WAIT_MS_MAX: '3000',
        CREBITO_REQUEST_TIMEOUT_MS: '5000',
      },
    });
    try {
      let settled = 0;
      const reads = Array.from({ length: READERS }, () => history5On(paced.baseUrl).finally(() => settled++));
      const queued = await waitFor(
        async () => operationHealth((await readAdminHealth(paced.admin)).ledger, 'historico').waiting > 0,
        { timeoutMs: 5_000, intervalMs: 1 },
      );
      expect(queued, 'no history read ever waited in the queue').toBeDefined();
      const statement = await getStatement(paced.baseUrl, 1);
      expect(statement.status, statement.text).toBe(200);
      // It was answered while history reads still waited for the budget.
      expect(settled).toBeLessThan(READERS);
      const answers = (await Promise.all(reads)).map((answer) => `${answer.status} ${answer.body.erro ?? ''}`.trim());
      expect(answers.filter((answer) => answer !== '200' && answer !== '503 sobrecarregado')).toEqual([]);
      expect(answers).toContain('200');
      expect(answers).toContain('503 sobrecarregado');
      const { ledger: health } = await readAdminHealth(paced.admin);
      expect(operationHealth(health, 'historico').shedExpired).toBe(
        answers.filter((answer) => answer !== '200').length,
      );
      expect(health.breaker.opened).toBe(0);
    } finally {
      await paced.stop();
    }
  });
});

describe('the plan', () => {
  it('a page of 100 behind a cursor, with filters, is one range scan of the (cliente_id, id DESC) index', async () => {
    const { next } = (await history(1, '?limit=100')).body as { next: string };
    const client = new pg.Client({ connectionString: database.adminUrl });
    const plans: string[] = [];
    client.on('notice', (notice) => plans.push(notice.message ?? ''));
    await client.connect();
    try {
      // auto_explain reports the plan of each statement inside the function.
      for (const setting of [
        "LOAD 'auto_explain'",
        'SET auto_explain.log_min_duration = 0',
        'SET auto_explain.log_nested_statements = on',
        "SET auto_explain.log_level = 'notice'",
        'SET auto_explain.log_analyze = on',
      ])
        await client.query(setting);
      const cursor = Buffer.from(next, 'base64url');
      const { rows } = await client.query('SELECT * FROM historico(1, $1, $2, 100, $3, $4, NULL, 1, NULL)', [
        Number(cursor.readBigUInt64BE(4)),
        cursor.subarray(12),
        'c',
        '2000-01-01T00:00:00Z',
      ]);
      expect(rows.length).toBe(101);
    } finally {
      await client.end();
    }
    const page = plans.find((plan) => plan.includes('FROM transacoes t'));
    expect(page, plans.join('\n---\n')).toBeDefined();
    // The name of the API key of a row is a lookup by primary key on chaves_api, and only for rows a key made.
    const scans = page!
      .split('\n')
      .filter((line) => /Scan/.test(line) && !/Subquery Scan/.test(line) && !/on chaves_api/.test(line));
    expect(scans, page).toHaveLength(1);
    expect(scans[0]).toMatch(/Index Scan using transacoes_cliente_id_id_desc on transacoes/);
    expect(page).toMatch(/Index Cond: \(\(cliente_id >= 1\) AND \(cliente_id <= 1\) AND \(id < '\d+'::bigint\)\)/);
    expect(page).not.toMatch(/Sort/);
  });
});
