// Races against the service: the row lock in registrar_transacao must
// serialise every client's transactions across processes, so no balance ever
// crosses -limite and nothing is lost. Defined once, run against two instances
// directly (test/instance/races.test.ts) and through nginx (test/stack/whole-stack.test.ts).

import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { SEEDED_LIMITS } from './contract.js';
import type { TestDatabase } from './database.js';
import { getStatement, postTransaction } from './http.js';

export interface RaceTarget {
  /** Requests go round robin over these. */
  baseUrls: string[];
  /** TCP ports to open raw connections to, round robin. */
  ports: number[];
  database: TestDatabase;
  /** Resolves once every instance has finished its in-flight requests. */
  settle(): Promise<void>;
}

export function defineRaceTests(target: () => RaceTarget): void {
  const baseUrlFor = (index: number) => target().baseUrls[index % target().baseUrls.length]!;
  const database = () => target().database;

  async function storedSum(clientId: number): Promise<number> {
    const rows = await database().query<{ total: string }>(
      "SELECT coalesce(sum(CASE tipo WHEN 'c' THEN valor ELSE -valor END), 0) AS total FROM transacoes WHERE cliente_id = $1",
      [clientId],
    );
    return Number(rows[0]!.total);
  }

  describe("the public test's validation phase", () => {
    it('25 concurrent debits of 1 then 25 credits of 1 on client 1', async () => {
      const before = await database().balance(1);
      const debits = await Promise.all(
        Array.from({ length: 25 }, (_, index) =>
          postTransaction(baseUrlFor(index), 1, { valor: 1, tipo: 'd', descricao: 'validacao' }),
        ),
      );
      expect(debits.map((response) => response.status)).toEqual(Array(25).fill(200));
      expect((await getStatement(baseUrlFor(0), 1)).body.saldo.total).toBe(before - 25);

      const credits = await Promise.all(
        Array.from({ length: 25 }, (_, index) =>
          postTransaction(baseUrlFor(index), 1, { valor: 1, tipo: 'c', descricao: 'validacao' }),
        ),
      );
      expect(credits.map((response) => response.status)).toEqual(Array(25).fill(200));
      expect((await getStatement(baseUrlFor(1), 1)).body.saldo.total).toBe(before);
    });
  });

  describe('racing to the limit', () => {
    it('accepts exactly the debits that fit, across both instances', async () => {
      const clientId = 2;
      const limit = SEEDED_LIMITS[clientId]!;
      const before = await database().balance(clientId);
      const valor = 1000;
      const attempts = 120;
      const fitting = Math.floor((before + limit) / valor);
      expect(fitting).toBeLessThan(attempts);

      const responses = await Promise.all(
        Array.from({ length: attempts }, (_, index) =>
          postTransaction(baseUrlFor(index), clientId, { valor, tipo: 'd', descricao: `race${index}` }),
        ),
      );
      const accepted = responses.filter((response) => response.status === 200);
      const refused = responses.filter((response) => response.status === 422);
      expect(accepted.length).toBe(fitting);
      expect(refused.length).toBe(attempts - fitting);
      for (const response of accepted) expect(response.body.saldo).toBeGreaterThanOrEqual(-limit);

      const after = await database().balance(clientId);
      expect(after).toBe(before - fitting * valor);
      expect(after).toBeGreaterThanOrEqual(-limit);
      expect(after).toBe(await storedSum(clientId));
    });

    it('keeps the books balanced under a random mix of debits and credits', async () => {
      const clientId = 1;
      const limit = SEEDED_LIMITS[clientId]!;
      const before = await database().balance(clientId);
      const rowsBefore = await database().transactionCount(clientId);
      const requests = Array.from({ length: 300 }, (_, index) => ({
        valor: 1 + Math.floor(Math.random() * 40_000),
        tipo: Math.random() < 0.6 ? ('d' as const) : ('c' as const),
        descricao: `mix${index}`,
      }));
      const responses = await Promise.all(
        requests.map((body, index) => postTransaction(baseUrlFor(index), clientId, body)),
      );

      let expectedDelta = 0;
      let acceptedCount = 0;
      responses.forEach((response, index) => {
        const body = requests[index]!;
        expect([200, 422]).toContain(response.status);
        if (response.status === 422) expect(body.tipo).toBe('d');
        if (response.status === 200) {
          acceptedCount++;
          expectedDelta += body.tipo === 'c' ? body.valor : -body.valor;
          expect(response.body.limite).toBe(limit);
          expect(response.body.saldo).toBeGreaterThanOrEqual(-limit);
        }
      });
      // The balances reported by the accepted transactions, in commit order,
      // are each exactly one step from the previous: their set must match the
      // running balance of the rows the database recorded.
      const recorded = await database().query<{ valor: number; tipo: string }>(
        'SELECT valor, tipo FROM transacoes WHERE cliente_id = $1 ORDER BY id OFFSET $2',
        [clientId, rowsBefore],
      );
      let running = before;
      const runningBalances = recorded.map((row) => (running += row.tipo === 'c' ? row.valor : -row.valor));
      const reported = responses
        .filter((response) => response.status === 200)
        .map((response) => response.body.saldo as number);
      expect([...reported].sort((a, b) => a - b)).toEqual([...runningBalances].sort((a, b) => a - b));
      for (const balance of runningBalances) expect(balance).toBeGreaterThanOrEqual(-limit);

      expect(recorded.length).toBe(acceptedCount);
      expect(await database().balance(clientId)).toBe(before + expectedDelta);
      expect(await database().balance(clientId)).toBe(await storedSum(clientId));
    });
  });

  describe('read-your-writes', () => {
    it('a write followed at once by parallel statements through both instances: all see it first', async () => {
      for (let round = 0; round < 20; round++) {
        const descricao = `ryw${round}`;
        const write = await postTransaction(baseUrlFor(round), 4, { valor: 1, tipo: 'c', descricao });
        expect(write.status).toBe(200);
        const statements = await Promise.all(
          Array.from({ length: 4 }, (_, index) => getStatement(baseUrlFor(round + index), 4)),
        );
        for (const statement of statements) {
          expect(statement.body.ultimas_transacoes[0]).toMatchObject({ valor: 1, tipo: 'c', descricao });
          expect(statement.body.saldo).toMatchObject({ total: write.body.saldo, limite: write.body.limite });
        }
      }
    });
  });

  describe('clients that vanish', () => {
    it('connections closed right after sending a transaction leave both instances serving and the books balanced', async () => {
      const clientId = 5;
      const payload = JSON.stringify({ valor: 3, tipo: 'c', descricao: 'sumiu' });
      const request =
        `POST /clientes/${clientId}/transacoes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
      await Promise.all(
        Array.from(
          { length: 40 },
          (_, index) =>
            new Promise<void>((resolve) => {
              const ports = target().ports;
              const socket = net.connect(ports[index % ports.length]!, '127.0.0.1', () => {
                socket.write(request, () => socket.destroy());
              });
              socket.on('close', () => resolve());
              socket.on('error', () => resolve());
            }),
        ),
      );
      // Whatever the outcome of each, the instances must still answer, and
      // finish the work the vanished clients left them.
      for (const baseUrl of target().baseUrls) expect((await getStatement(baseUrl, clientId)).status).toBe(200);
      await target().settle();
      expect(await database().balance(clientId)).toBe(await storedSum(clientId));
    });
  });
}
