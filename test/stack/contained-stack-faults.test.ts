// Faults of one part of the stack (one instance frozen, nginx killed, a local
// user at an instance's socket) must stay in that part. Each case here was
// reproduced on the stack before its fix: a frozen instance held
// its share of requests for nginx's 10 s read timeout; a SIGKILLed nginx
// master left its worker on the port and the launcher gave up; any local user
// could POST straight to an instance, past nginx's rules.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/shared/wait.js';
import { isProcessAlive, processGroupMembers } from '../../src/stack/processes.js';
import { freePort, makeDataDirectory, startProcess, startStack, type RunningStack } from '../../tools/harness/stack.js';
import { LAUNCHER_ENTRY } from '../../src/stack/paths.js';
import { openDatabase, type TestDatabase } from '../support/database.js';
import { waitUntilIdle } from '../support/health.js';
import { LEAN_STACK } from '../support/lean-stack.js';

// Short enough for a test to wait for, longer than the routing case's freeze.
const LIVENESS_TIMEOUT_MS = 4000;
const RECOVERY_TIMEOUT_MS = 30_000;
// Consecutive requests once a frozen instance is out of rotation: with round
// robin, half would go to it if it were not.
const ROUTED_AROUND_REQUESTS = 20;
// Apart enough that requests reach nginx in the order they were sent.
const ARRIVAL_GAP_MS = 20;

let stack: RunningStack;
let database: TestDatabase;

beforeAll(async () => {
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: { ...LEAN_STACK, CREBITO_LIVENESS_TIMEOUT_MS: String(LIVENESS_TIMEOUT_MS) },
  });
  database = openDatabase(stack.state().databaseUrl);
});

afterAll(async () => {
  await database?.close();
  await stack?.dispose();
});

interface Answer {
  status: number;
  instance: string | null;
  body: any;
}

async function send(
  kind: 'get' | 'keyed' | 'unkeyed',
  descricao: string,
  options: { clientId: number } = { clientId: 2 },
): Promise<Answer> {
  const init: RequestInit =
    kind === 'get'
      ? {}
      : {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(kind === 'keyed' ? { 'idempotency-key': descricao } : {}),
          },
          body: JSON.stringify({ valor: 1, tipo: 'c', descricao }),
        };
  const response = await fetch(
    `${stack.baseUrl}/clientes/${options.clientId}/${kind === 'get' ? 'extrato' : 'transacoes'}`,
    init,
  );
  const text = await response.text();
  return { status: response.status, instance: response.headers.get('x-crebito-instance'), body: JSON.parse(text) };
}

/** The first client whose transactions nginx sends to instance `name` (each client has one home instance). */
async function clientAtHome(name: string, run: string): Promise<number> {
  for (let clientId = 1; clientId <= 5; clientId++) {
    const answer = await send('unkeyed', `${run}h${clientId}`, { clientId });
    expect(answer.status).toBe(200);
    if (answer.instance === name) return clientId;
  }
  throw new Error(`no client of 1-5 has ${name} as its home`);
}

const resume = (pid: number) => {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // The launcher's liveness probe may have killed it already: nothing to resume.
  }
};

describe('regression: a frozen instance was not routed around', () => {
  it('reads and keyed POSTs sent to it are answered by the other; an unkeyed POST says it may have been applied; new requests avoid it', async () => {
    const [frozen, healthy] = stack.state().instances;
    const run = `f${Math.random().toString(36).slice(2, 7)}`;
    // A client's transactions go to its home instance (nginx hashes the
    // client id): these POSTs are for a client whose home is the one frozen.
    const clientId = await clientAtHome(frozen!.name!, run);
    process.kill(frozen!.pid!, 'SIGSTOP');
    try {
      // Reads alternate (round robin) and the POSTs go home, and these arrive one by one: half the reads and every POST are sent to the frozen one.
      const kinds = Array.from({ length: 18 }, (_, index) => (['get', 'keyed', 'unkeyed'] as const)[index % 3]!);
      const pending: Promise<Answer>[] = [];
      for (const [index, kind] of kinds.entries()) {
        pending.push(send(kind, `${run}${index}`, { clientId }));
        await sleep(ARRIVAL_GAP_MS);
      }
      const answers = await Promise.all(pending);
      // Sent after the first ones gave up on it: none of these goes to it.
      const later: Answer[] = [];
      for (let index = 0; index < 10; index++) later.push(await send('get', ''));
      for (const [index, answer] of answers.entries()) {
        if (kinds[index] !== 'unkeyed')
          expect({ kind: kinds[index], status: answer.status, instance: answer.instance }).toEqual({
            kind: kinds[index],
            status: 200,
            instance: healthy!.name,
          });
      }
      const unkeyed = answers.filter((_, index) => kinds[index] === 'unkeyed');
      const unanswered = unkeyed.filter((answer) => answer.status !== 200);
      expect(unanswered.length).toBeGreaterThan(0);
      for (const answer of unanswered)
        expect([answer.status, answer.body.erro, answer.body.pode_ter_sido_aplicada]).toEqual([
          504,
          'instancia_sem_resposta',
          true,
        ]);
      expect(later.map((answer) => answer.instance)).toEqual(later.map(() => healthy!.name));
    } finally {
      resume(frozen!.pid!);
    }
    // Once it runs again, each keyed POST was applied exactly once, whichever instance did it.
    await waitFor(() => stack.state().instances.every((instance) => instance.pid !== undefined), {
      timeoutMs: RECOVERY_TIMEOUT_MS,
      intervalMs: 100,
    });
    await waitUntilIdle(stack.state().instances.map((instance) => instance.listen));
    const rows = await database.query<{ descricao: string; count: string }>(
      `SELECT descricao, count(*) FROM transacoes WHERE descricao LIKE $1 GROUP BY descricao`,
      [`${run}%`],
    );
    const keyed = Array.from({ length: 18 }, (_, index) => index)
      .filter((index) => index % 3 === 1)
      .map((index) => `${run}${index}`);
    for (const descricao of keyed) expect(rows.find((row) => row.descricao === descricao)?.count, descricao).toBe('1');
  });

  // Before, nginx learned of a freeze only from a request that timed out
  // there (1.25 s in), and sent every other new request to the frozen
  // instance until then. Now the launcher's probe takes it out of rotation
  // first: the requests after that never reach it, so nginx never times out
  // on it (its stderr says so when it does).
  it('once the launcher takes a frozen instance out of rotation, no request goes to it; it comes back when it answers', async () => {
    const [frozen, healthy] = stack.state().instances;
    const run = `r${Math.random().toString(36).slice(2, 7)}`;
    process.kill(frozen!.pid!, 'SIGSTOP');
    const answers: Answer[] = [];
    let nginxSaid = '';
    try {
      const out = await waitFor(() => stack.state().instances[0]!.inRotation === false, {
        timeoutMs: RECOVERY_TIMEOUT_MS,
        intervalMs: 20,
      });
      expect(
        out,
        `the launcher never took ${frozen!.name} out of rotation:\n${stack.output().slice(-2000)}`,
      ).toBeDefined();
      const outputBefore = stack.output().length;
      for (let index = 0; index < ROUTED_AROUND_REQUESTS; index++)
        answers.push(await send(index % 2 === 0 ? 'get' : 'keyed', `${run}${index}`));
      nginxSaid = stack.output().slice(outputBefore);
    } finally {
      resume(frozen!.pid!);
    }
    expect(answers.map((answer) => [answer.status, answer.instance])).toEqual(answers.map(() => [200, healthy!.name]));
    expect(nginxSaid).not.toContain('upstream timed out');
    expect(stack.output()).toContain(`${frozen!.name} did not answer /health within`);
    const back = await waitFor(
      async () => stack.state().instances[0]!.inRotation && (await send('get', '')).instance === frozen!.name,
      { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: 100 },
    );
    expect(back, `${frozen!.name} never came back into rotation:\n${stack.output().slice(-2000)}`).toBeDefined();
  });

  it('an instance that stays frozen is killed and restarted by the launcher, and rejoins rotation', async () => {
    const before = stack.state().instances[0]!;
    process.kill(before.pid!, 'SIGSTOP');
    try {
      const restarted = await waitFor(
        () => {
          const now = stack.state().instances[0]!;
          return now.pid !== undefined && now.pid !== before.pid;
        },
        { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: 100 },
      );
      expect(restarted, `the launcher never restarted ${before.name}:\n${stack.output().slice(-2000)}`).toBeDefined();
      expect(stack.output()).toContain(`${before.name} (pid ${before.pid}) has not answered /health`);
    } finally {
      resume(before.pid!);
    }
    const rejoined = await waitFor(async () => (await send('get', '')).instance === before.name, {
      timeoutMs: RECOVERY_TIMEOUT_MS,
      intervalMs: 200,
    });
    expect(rejoined, `${before.name} never answered through nginx again`).toBeDefined();
  });
});

describe('regression: killing nginx took the service down for good', () => {
  it('its orphaned worker is stopped, nginx restarted, and the service answers again', async () => {
    const master = stack.state().nginx!.pid!;
    const workers = processGroupMembers(master).filter((pid) => pid !== master);
    expect(workers.length).toBeGreaterThan(0);
    process.kill(master, 'SIGKILL');
    const back = await waitFor(
      async () => {
        const now = stack.state().nginx?.pid;
        if (now === undefined || now === master) return false;
        return (
          (await fetch(`${stack.baseUrl}/clientes/1/extrato`).then(
            (response) => response.status,
            () => 0,
          )) === 200
        );
      },
      { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: 50 },
    );
    expect(back, `nginx never served again:\n${stack.output().slice(-2000)}`).toBeDefined();
    for (const worker of workers) expect(isProcessAlive(worker), `orphaned worker ${worker}`).toBe(false);
    expect(stack.child.exitCode).toBeNull();
  });

  it('a launcher whose port answers from another process does not say it is up', async () => {
    // Whatever holds the port (an orphan of an earlier nginx, another
    // program), answering there is not the nginx this launcher started.
    const squatter = net.createServer((socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'));
    const port = await freePort();
    await new Promise<void>((resolve) => squatter.listen(port, '0.0.0.0', resolve));
    const dataDirectory = makeDataDirectory();
    try {
      const started = startProcess({
        name: 'a launcher on a taken port',
        entry: LAUNCHER_ENTRY,
        environment: {
          ...LEAN_STACK,
          PORT: String(port),
          CREBITO_DATA_DIR: dataDirectory,
          CREBITO_ADMIN_BASE_PORT: '0',
        },
        readyWhen: { outputIncludes: '"msg":"up on http' },
        readyTimeoutMs: 60_000,
      });
      await expect(started).rejects.toThrow(/exited \(1\) before it was ready/);
    } finally {
      squatter.close();
      fs.rmSync(dataDirectory, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('regression: local users reached the instances past nginx', () => {
  it.skipIf(process.getuid?.() !== 0)(
    "an unprivileged user cannot connect to an instance's socket; nginx still can",
    () => {
      const socket = stack.state().instances[1]!.listen.slice('unix:'.length);
      expect(fs.statSync(socket).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.dirname(socket)).mode & 0o777).toBe(0o711);
      const curl = spawnSync(
        'runuser',
        [
          '-u',
          'nobody',
          '--',
          'curl',
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--unix-socket',
          socket,
          'http://instance/clientes/1/extrato',
        ],
        { encoding: 'utf8' },
      );
      // curl's 7: could not connect (the kernel refused: permission denied).
      expect([curl.status, curl.stdout]).toEqual([7, '000']);
      const asRoot = spawnSync(
        'curl',
        ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--unix-socket', socket, 'http://instance/clientes/1/extrato'],
        { encoding: 'utf8' },
      );
      expect(asRoot.stdout).toBe('200');
    },
  );
});
