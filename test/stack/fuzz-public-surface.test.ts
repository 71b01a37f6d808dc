// The public surface under random and mutated requests (test/support/fuzz.ts):
// a real stack (nginx, two instances, embedded PostgreSQL) takes a bounded
// number of property runs, each one to four requests at once over raw TCP
// sockets, for at most FUZZ_TIME_LIMIT_MS. It must answer no 5xx but the
// catalogue's documented 503s, no process may crash or be restarted, and the
// books must be exact afterwards: every balance its initial value plus its
// transactions, never below -limite in commit order. A failure is shrunk by
// fast-check and printed with its seed; CREBITO_FUZZ_SEED replays one.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/shared/settings.js';
import { upstreamTimeoutMs } from '../../src/stack/nginx.js';
import { booksViolations } from '../../tools/ledger-check/invariants.js';
import { readBooks, readDatabaseState } from '../../tools/ledger-check/database.js';
import {
  freePort,
  getFromListenAddress,
  makeDataDirectory,
  startStack,
  type RunningStack,
} from '../../tools/harness/stack.js';
import { brokenRule, exchange, fuzzRequests, type FuzzRequest, type Outcome } from '../support/fuzz.js';
import { request } from '../support/http.js';
import { readSettings } from '../../src/shared/settings.js';
import { LEAN_STACK } from '../support/lean-stack.js';

const CLIENT_IDS = [1, 2, 3, 4, 5];
// Bounded by count and by time, whichever comes first: about half a minute
// of requests on a quiet machine, fewer runs on a busy one. Once a run
// fails, shrinking gets a time of its own (past it, the smallest case so
// far is reported).
const FUZZ_RUNS_MAX = 5000;
const FUZZ_TIME_LIMIT_MS = 30_000;
const SHRINK_TIME_LIMIT_MS = 60_000;
// nginx gives up on a silent client within 5 s; past this an exchange hangs.
const EXCHANGE_DEADLINE_MS = 15_000;
const SLOW_EXCHANGE_MS = 1000;
// After the last answer, a request nginx gave up on may still be in an
// instance: it settles within the instance's deadline and nginx's margin.
const SETTLE_MS = 2 * upstreamTimeoutMs(SETTINGS.requestTimeoutMs.default);

let stack: RunningStack;

beforeAll(async () => {
  stack = await startStack({ port: await freePort(), dataDirectory: makeDataDirectory(), environment: LEAN_STACK });
});

afterAll(async () => {
  await stack?.dispose();
});

/** Real cursors of this stack's histories, for the fuzzer to use and mutate. */
async function realCursors(): Promise<string[]> {
  const cursors: string[] = [];
  for (const clientId of [1, 2]) {
    for (let index = 0; index < 3; index++) {
      const posted = await request(stack.baseUrl, 'POST', `/clientes/${clientId}/transacoes`, {
        valor: 1,
        tipo: 'c',
        descricao: `cursor${index}`,
      });
      expect(posted.status).toBe(200);
    }
    const page = await request(stack.baseUrl, 'GET', `/clientes/${clientId}/transacoes?limit=1`);
    expect(typeof page.body.next).toBe('string');
    cursors.push(page.body.next as string);
  }
  return cursors;
}

/** Every process the launcher runs, by name, with its pid and restarts. */
function processes(): Record<string, { pid: number | undefined; restarts?: number }> {
  const state = stack.state();
  return {
    launcher: { pid: state.launcherPid },
    nginx: { pid: state.nginx?.pid },
    postgres: { pid: state.postgres?.pid },
    ...Object.fromEntries(
      state.instances.map((instance) => [instance.name, { pid: instance.pid, restarts: instance.restarts }]),
    ),
  };
}

// What the fuzzer found first, shrunk by fast-check (seed 955524701): a POST
// whose method lost its first byte. uWebSockets.js drops the connection on
// any method outside HTTP's nine, nginx took that for the instance failing,
// answered 502, tried the other instance (which failed the same way) and
// took both out of rotation for 3 s: every request meanwhile got a 502.
const SHRUNK_UNKNOWN_METHOD =
  'ET /clientes/1/transacoes HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 44\r\n\r\n\u0000"valor":1,"tipo":"c","descricao":" ","":{}}';

describe('regression: a method uWebSockets.js cannot parse took every instance out of rotation', () => {
  it('is refused by nginx with 405 metodo_desconhecido, and the next requests are served', async () => {
    for (const method of ['ET', 'PROPFIND', 'PURGE']) {
      const bytes = Buffer.from(SHRUNK_UNKNOWN_METHOD.replace(/^ET /, `${method} `), 'latin1');
      const outcome = await exchange(stack.port, { bytes, head: false, halfClose: true }, EXCHANGE_DEADLINE_MS);
      expect(outcome.kind === 'answer' && outcome.status, method).toBe(405);
      if (outcome.kind !== 'answer') continue;
      expect(outcome.body).toContain('"erro":"metodo_desconhecido"');
      expect(outcome.head).toMatch(/\r\nallow: GET, HEAD, POST/i);
    }
    // Before the fix, within 3 s of the above, both instances were skipped: 502.
    for (let index = 0; index < 4; index++)
      expect((await request(stack.baseUrl, 'GET', '/clientes/1/extrato')).status).toBe(200);
  });
});

// Found next (seeds 955800170 and its replay), shrunk: nginx's own 501 for a
// Transfer-Encoding it does not know, and 505 for an HTTP/2.0 request line
// in plain text, both HTML and both 5xx, which invite a client to retry a
// request that can never succeed.
const SHRUNK_UNKNOWN_CODING =
  'GET /clientes/1/extrato HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: cunked\r\n\r\n0\r\n\r\n';
const SHRUNK_HTTP2_LINE = 'GET /clientes/1/extrato HTTP/2.0\r\nHost: x\r\n\r\n';

describe("regression: nginx answered 501 and 505, HTML, to requests that are the client's error", () => {
  it.each([
    ['an unknown Transfer-Encoding', SHRUNK_UNKNOWN_CODING],
    ['an HTTP/2.0 request line', SHRUNK_HTTP2_LINE],
  ])("%s gets the catalogue's 400", async (_, text) => {
    const outcome = await exchange(
      stack.port,
      { bytes: Buffer.from(text, 'latin1'), head: false, halfClose: true },
      EXCHANGE_DEADLINE_MS,
    );
    expect(outcome.kind === 'answer' && outcome.status).toBe(400);
    if (outcome.kind === 'answer') expect(outcome.body).toContain('"erro":"requisicao_invalida"');
  });
});

// Found after the API keys landed (seed 958961231): nginx forwarded the
// Authorization header as given, and a control byte in it left an instance
// silent until nginx gave up (504), which then tried the other instance and
// took both out of rotation. Shrunk by hand from the first failing run.
const AUTHORIZATION_WITH_CONTROL_BYTE =
  'GET /clientes/1/extrato HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: a\u001fb\r\n\r\n';

describe('regression: a control byte in Authorization silenced both instances', () => {
  it('is answered by an instance, and the next requests are served', async () => {
    const outcome = await exchange(
      stack.port,
      { bytes: Buffer.from(AUTHORIZATION_WITH_CONTROL_BYTE, 'latin1'), head: false, halfClose: false },
      EXCHANGE_DEADLINE_MS,
    );
    // Auth is off in this stack: the header is ignored and the statement read.
    expect(outcome.kind === 'answer' && outcome.status).toBe(200);
    for (let index = 0; index < 4; index++)
      expect((await request(stack.baseUrl, 'GET', '/clientes/1/extrato')).status).toBe(200);
  });
});

describe('the public surface under random and mutated requests', () => {
  it(
    'answers no undocumented 5xx, crashes nothing, and keeps the books exact',
    async () => {
      const cursors = await realCursors();
      const before = processes();
      const initial = await readBooks(stack.state().databaseUrl, CLIENT_IDS);
      const statuses = new Map<string, number>();
      const count = (outcome: Outcome) => {
        const key = outcome.kind === 'closed' ? 'closed' : String(outcome.status);
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      };

      const seed = readSettings(process.env, ['fuzzSeed']).fuzzSeed || Date.now() % 2 ** 31;
      const sendAndCheck = async (requests: FuzzRequest[]) => {
        const outcomes = await Promise.all(
          requests.map(async (fuzzRequest) => {
            const started = performance.now();
            const outcome = await exchange(stack.port, fuzzRequest, EXCHANGE_DEADLINE_MS);
            // Not a check: how many waited on a timeout, for the log line below.
            if (performance.now() - started >= SLOW_EXCHANGE_MS) statuses.set('slow', (statuses.get('slow') ?? 0) + 1);
            return outcome;
          }),
        );
        outcomes.forEach((outcome, index) => {
          count(outcome);
          const broken = brokenRule(outcome);
          if (broken !== undefined)
            throw new Error(
              `${broken}\nrequest: ${JSON.stringify(requests[index]!.bytes.toString('latin1').slice(0, 2000))}`,
            );
        });
      };
      // fast-check's own time limit would cut shrinking short as well: runs
      // past the deadline pass without sending anything instead.
      const deadlines = { generation: Date.now() + FUZZ_TIME_LIMIT_MS, shrinking: Number.POSITIVE_INFINITY };
      let runs = 0;
      const property = fc.asyncProperty(
        fc.array(fuzzRequests(cursors), { minLength: 1, maxLength: 4 }),
        async (requests) => {
          const now = Date.now();
          if (deadlines.shrinking === Number.POSITIVE_INFINITY ? now > deadlines.generation : now > deadlines.shrinking)
            return;
          runs++;
          try {
            await sendAndCheck(requests);
          } catch (error) {
            if (deadlines.shrinking === Number.POSITIVE_INFINITY)
              deadlines.shrinking = Date.now() + SHRINK_TIME_LIMIT_MS;
            throw error;
          }
        },
      );
      const details = await fc.check(property, { seed, numRuns: FUZZ_RUNS_MAX });
      console.log(
        `fuzz: seed ${seed}, ${runs} runs sent (of ${details.numRuns} drawn); answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`,
      );
      // fast-check's report names the seed and path that replay the shrunk case.
      if (details.failed) {
        const error =
          details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
        throw new Error(`CREBITO_FUZZ_SEED=${seed} replays this\n${error}\n${fc.defaultReportMessage(details)}`);
      }

      // The fuzzer reached the money path and the refusals, not only nginx's 400.
      expect(statuses.get('200') ?? 0).toBeGreaterThan(10);
      expect(statuses.get('422') ?? 0).toBeGreaterThan(10);
      expect(statuses.get('400') ?? 0).toBeGreaterThan(0);

      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      expect(processes()).toEqual(before);
      expect(stack.child.exitCode).toBeNull();
      for (const instance of stack.state().instances) {
        expect((await getFromListenAddress(instance.admin!, '/health', 5000))?.status, instance.name).toBe(200);
      }
      const database = await readDatabaseState(stack.state().databaseUrl, CLIENT_IDS, initial);
      expect(booksViolations(database)).toEqual([]);
      expect(
        database.transactions.filter((row) => row.id > initial.lastId).length,
        'transactions applied during the fuzzing',
      ).toBeGreaterThan(0);
    },
    FUZZ_TIME_LIMIT_MS + SHRINK_TIME_LIMIT_MS + 4 * EXCHANGE_DEADLINE_MS + 60_000,
  );
});
