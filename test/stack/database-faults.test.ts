// Fail fast when the database stops answering: PostgreSQL frozen (SIGSTOP on
// the postmaster and every backend), then thawed. The stack has a database
// of its own, so freezing it stops no other test. The driver's own query
// timeout is set far past the request deadline, so any 503 that arrives in
// time came from the deadline or the breaker, not from the driver.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/shared/wait.js';
import { processTree } from '../../src/stack/processes.js';
import {
  getFromListenAddress,
  makeDataDirectory,
  freePort,
  startStack,
  type RunningStack,
} from '../../tools/harness/stack.js';
import { LEAN_STACK } from '../support/lean-stack.js';

const REQUEST_TIMEOUT_MS = 1000;
// Generous beside the 1 s deadline, far below the 30 s driver timeout: a
// request not answered by then waited on the database.
const ANSWER_WITHIN_MS = 5000;
const FREEZE_MS = 4000;

let stack: RunningStack;

beforeAll(async () => {
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: {
      ...LEAN_STACK,
      CREBITO_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      CREBITO_QUERY_TIMEOUT_MS: '30000',
    },
  });
});

afterAll(async () => {
  await stack?.dispose();
});

interface Answer {
  status: number;
  code: string | undefined;
  mayHaveBeenApplied: boolean | undefined;
  retryAfter: string | null;
  elapsedMs: number;
}

async function ask(path: string, init: RequestInit = {}): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${stack.baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
  const body = (await response.json().catch(() => ({}))) as { erro?: string; pode_ter_sido_aplicada?: boolean };
  return {
    status: response.status,
    code: body.erro,
    mayHaveBeenApplied: body.pode_ter_sido_aplicada,
    retryAfter: response.headers.get('retry-after'),
    elapsedMs: performance.now() - started,
  };
}

const post = (index: number) =>
  ask('/clientes/1/transacoes', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ valor: 1, tipo: 'c', descricao: `f${index}` }),
  });

describe('PostgreSQL frozen, then thawed', () => {
  it('every request is answered 503 with Retry-After by its deadline, the breaker opens and then closes by itself, and no instance restarts', async () => {
    expect((await post(0)).status).toBe(200);
    const before = stack.state();
    const frozen = processTree(before.postgres!.pid);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    const answers: Answer[] = [];
    let thawedAt = 0;
    try {
      const until = performance.now() + FREEZE_MS;
      for (let index = 1; performance.now() < until; index++) {
        answers.push(...(await Promise.all([post(index), ask('/clientes/2/extrato')])));
      }
      const readiness = await Promise.all(
        before.instances.map((instance) => getFromListenAddress(instance.listen, '/ready', ANSWER_WITHIN_MS)),
      );
      expect(readiness.map((answer) => answer?.status)).toEqual(before.instances.map(() => 503));
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
      thawedAt = performance.now();
    }

    for (const answer of answers) {
      expect(answer.status).toBe(503);
      expect(answer.retryAfter).toBe('1');
      // A read that timed out says so on its own (it never applies anything).
      expect(['banco_sem_resposta', 'leitura_sem_resposta', 'banco_indisponivel', 'sobrecarregado']).toContain(
        answer.code,
      );
      // Sent and unanswered: it may have been applied; refused at the door: it was not.
      expect(answer.mayHaveBeenApplied).toBe(answer.code === 'banco_sem_resposta');
    }
    // The breaker opened: later requests were answered without being sent.
    expect(answers.some((answer) => answer.code === 'banco_indisponivel')).toBe(true);

    const recoveredMs = await waitFor(
      async () => {
        const readiness = await Promise.all(
          before.instances.map((instance) => getFromListenAddress(instance.listen, '/ready', ANSWER_WITHIN_MS)),
        );
        return readiness.every((answer) => answer?.status === 200) && (await post(-1)).status === 200;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    expect(recoveredMs).toBeDefined();
    const after = stack.state();
    expect(after.instances.map((instance) => [instance.pid, instance.restarts])).toEqual(
      before.instances.map((instance) => [instance.pid, 0]),
    );

    const firstUnsent = answers.findIndex((answer) => answer.code === 'banco_indisponivel');
    console.log(
      `freeze: ${answers.length} answers, slowest ${Math.max(...answers.map((answer) => answer.elapsedMs)).toFixed(0)} ms; ` +
        `breaker answering from request ${firstUnsent + 1}; ` +
        `ready again ${(performance.now() - thawedAt).toFixed(0)} ms after SIGCONT ` +
        `(waited ${recoveredMs!.toFixed(0)} ms)`,
    );
  });
});
