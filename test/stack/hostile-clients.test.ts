// Hostile or careless clients through the real stack (nginx in front of two
// instances): each case checks its own answer, then that normal traffic
// still flows through both instances.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../../tools/harness/stack.js';
import { failures } from '../../src/shared/failures.js';
import { getStatement, rawExchange, statusOf } from '../support/http.js';
import { LEAN_STACK } from '../support/lean-stack.js';

let stack: RunningStack;

beforeAll(async () => {
  stack = await startStack({ port: await freePort(), dataDirectory: makeDataDirectory(), environment: LEAN_STACK });
});

afterAll(async () => {
  await stack?.dispose();
});

/** Twenty statements through nginx all answer 200, from both instances. */
async function expectNormalTrafficThroughBoth(): Promise<void> {
  const instances = new Set<string>();
  for (let index = 0; index < 20; index++) {
    const response = await getStatement(stack.baseUrl, 1 + (index % 5));
    expect(response.status).toBe(200);
    instances.add(response.headers.get('x-crebito-instance') ?? '');
  }
  expect([...instances].sort()).toEqual(['api-1', 'api-2']);
}

const headerLines = (count: number, valueBytes: number) =>
  Array.from({ length: count }, (_, index) => `X-Extra-${index}: ${'v'.repeat(valueBytes)}\r\n`).join('');

describe('hostile clients through nginx', () => {
  it('regression: a request with 200 headers got 502 and left the instance counted as failed; it is answered, and both instances keep serving', async () => {
    for (let attempt = 0; attempt < 4; attempt++) {
      const raw = await rawExchange(
        stack.port,
        `GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\n${headerLines(200, 8)}Connection: close\r\n\r\n`,
      );
      expect(statusOf(raw)).toBe(200);
    }
    await expectNormalTrafficThroughBoth();
  });

  it("a header block past nginx's limit is 431 in the API's JSON", async () => {
    const raw = await rawExchange(
      stack.port,
      `GET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\n${headerLines(8, 6000)}Connection: close\r\n\r\n`,
    );
    expect(statusOf(raw)).toBe(431);
    expect(raw).toContain('"erro":"cabecalhos_grandes_demais"');
    await expectNormalTrafficThroughBoth();
  });

  it('a known path asked with the wrong method is 405 with Allow, not 404', async () => {
    const post = await fetch(`${stack.baseUrl}/clientes/1/extrato`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect((await post.json()).erro).toBe('metodo_nao_permitido');
    const remove = await fetch(`${stack.baseUrl}/clientes/1/transacoes`, { method: 'DELETE' });
    expect(remove.status).toBe(405);
    expect(remove.headers.get('allow')).toContain('POST');
    expect((await fetch(`${stack.baseUrl}/clientes/1/outra-coisa`, { method: 'DELETE' })).status).toBe(404);
  });

  it("regression: nginx's own 400 (Content-Length with Transfer-Encoding) was HTML; it is the catalogue's JSON", async () => {
    const raw = await rawExchange(
      stack.port,
      'POST /clientes/1/transacoes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(statusOf(raw)).toBe(400);
    expect(raw).toMatch(/content-type: application\/json/i);
    expect(raw).toContain(failures.badRequest.body);
    await expectNormalTrafficThroughBoth();
  });

  it("regression: nginx's own 414 (a 9 KB URL) was HTML; it is the catalogue's JSON", async () => {
    const raw = await rawExchange(
      stack.port,
      `GET /clientes/1/extrato?x=${'a'.repeat(9 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    expect(statusOf(raw)).toBe(414);
    expect(raw).toContain(failures.uriTooLong.body);
    await expectNormalTrafficThroughBoth();
  });

  it('regression: HEAD was answered 405 with a body; it is answered as GET would be, without one, and the connection stays usable', async () => {
    const raw = await rawExchange(
      stack.port,
      'HEAD /clientes/1/extrato HTTP/1.1\r\nHost: x\r\n\r\nGET /clientes/1/extrato HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const [head, get] = raw.split(/(?=HTTP\/1\.1 )/);
    expect(statusOf(head!)).toBe(200);
    // Nothing after the HEAD's headers: the next bytes are the GET's answer.
    expect(head!.endsWith('\r\n\r\n')).toBe(true);
    expect(statusOf(get!)).toBe(200);
    expect(JSON.parse(get!.slice(get!.indexOf('\r\n\r\n') + 4)).saldo.limite).toBeGreaterThan(0);
  });

  it("a body over 4 KiB is 413 in the API's JSON, from nginx before any instance", async () => {
    const response = await fetch(`${stack.baseUrl}/clientes/1/transacoes`, {
      method: 'POST',
      body: 'x'.repeat(10_000),
    });
    expect(response.status).toBe(413);
    expect((await response.json()).erro).toBe('corpo_grande_demais');
  });

  it('pipelined requests on one connection are answered in order', async () => {
    const request = (clientId: number) => `GET /clientes/${clientId}/extrato HTTP/1.1\r\nHost: x\r\n\r\n`;
    const raw = await rawExchange(stack.port, request(1) + request(2) + request(6));
    expect([...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]))).toEqual([200, 200, 404]);
  });

  it('500 clients trickling a request a byte at a time do not stop others from being answered', async () => {
    const sockets = Array.from({ length: 500 }, () => {
      const socket = net.connect(stack.port, '127.0.0.1');
      socket.on('error', () => undefined);
      return socket;
    });
    const request =
      'POST /clientes/1/transacoes HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n' +
      'Content-Length: 44\r\n\r\n{"valor": 1, "tipo": "c", "descricao": "x"}';
    let offset = 0;
    const trickle = setInterval(() => {
      for (const socket of sockets) if (!socket.destroyed) socket.write(request.slice(offset, offset + 1));
      offset = (offset + 1) % request.length;
    }, 100);
    try {
      let slowestMs = 0;
      for (let index = 0; index < 20; index++) {
        const started = performance.now();
        const response = await fetch(`${stack.baseUrl}/clientes/2/extrato`, { signal: AbortSignal.timeout(5000) });
        expect(response.status).toBe(200);
        slowestMs = Math.max(slowestMs, performance.now() - started);
      }
      console.log(`trickling clients: the slowest of 20 statements beside them took ${slowestMs.toFixed(1)} ms`);
    } finally {
      clearInterval(trickle);
      for (const socket of sockets) socket.destroy();
    }
    await expectNormalTrafficThroughBoth();
  });
});

describe('regression: every answer named the server library and its version (uWebSockets: 20)', () => {
  it("no answer through nginx carries it, nor nginx's own version", async () => {
    for (const response of [
      await fetch(`${stack.baseUrl}/clientes/1/extrato`),
      await fetch(`${stack.baseUrl}/nada`),
      await fetch(`${stack.baseUrl}/clientes/1/transacoes`, { method: 'POST', body: '{' }),
    ]) {
      expect(response.headers.get('uwebsockets'), response.url).toBeNull();
      expect(response.headers.get('server') ?? 'nginx', response.url).toBe('nginx');
      await response.arrayBuffer();
    }
  });
});

describe('rate limiting at nginx (CREBITO_RATE_LIMIT_PER_S)', () => {
  it('is off by default: a burst of 100 statements from one address all answer 200', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 100 }, () => getStatement(stack.baseUrl, 3).then((response) => response.status)),
    );
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
  });

  it('when on, answers 429 with Retry-After past the rate and its burst, then serves again', async () => {
    const limited = await startStack({
      port: await freePort(),
      dataDirectory: makeDataDirectory(),
      environment: { ...LEAN_STACK, CREBITO_RATE_LIMIT_PER_S: '10' },
    });
    try {
      const responses = await Promise.all(
        Array.from({ length: 60 }, () => fetch(`${limited.baseUrl}/clientes/1/extrato`)),
      );
      const limitedResponses = responses.filter((response) => response.status === 429);
      expect(responses.filter((response) => response.status === 200).length).toBeGreaterThanOrEqual(10);
      expect(limitedResponses.length).toBeGreaterThan(0);
      expect(responses.every((response) => response.status === 200 || response.status === 429)).toBe(true);
      expect(limitedResponses[0]!.headers.get('retry-after')).toBe('1');
      expect((await limitedResponses[0]!.json()).erro).toBe('muitas_requisicoes');
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect((await fetch(`${limited.baseUrl}/clientes/1/extrato`)).status).toBe(200);
    } finally {
      await limited.dispose();
    }
  });
});
