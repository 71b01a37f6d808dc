// The bookkeeping of requests in progress (src/instance/http/exchange.ts), driven
// by hand: a stand-in response records what is written and lets the test play
// the client leaving. Every path must settle a request exactly once.

import { describe, expect, it } from 'vitest';
import { RequestBook } from '../../src/instance/http/exchange.js';
import type { HttpResponse } from '../../src/instance/http/uws.js';

/** Just enough of uWebSockets.js's HttpResponse for the book. */
function fakeResponse() {
  const written: string[] = [];
  let onAborted: (() => void) | undefined;
  const response = {
    onAborted(handler: () => void) {
      onAborted = handler;
      return response;
    },
    cork(work: () => void) {
      work();
      return response;
    },
    writeStatus(status: string) {
      written.push(status);
      return response;
    },
    writeHeader() {
      return response;
    },
    end(body: string) {
      written.push(body);
      return response;
    },
  };
  return { response: response as unknown as HttpResponse, written, leave: () => onAborted!() };
}

describe('RequestBook', () => {
  it('counts a request in flight until its reply', () => {
    const book = new RequestBook('unit', () => undefined);
    const { response, written } = fakeResponse();
    const exchange = book.begin(response, 'other');
    expect(book.inFlight).toBe(1);
    book.reply(exchange, '200 OK', '{}');
    expect(book.inFlight).toBe(0);
    expect(written).toEqual(['200 OK', '{}']);
  });

  it('regression: a second reply to one request passed silently; it is a bug and throws', () => {
    const book = new RequestBook('unit', () => undefined);
    const exchange = book.begin(fakeResponse().response, 'other');
    book.reply(exchange, '200 OK', '{}');
    expect(() => book.reply(exchange, '503 Service Unavailable', '{}')).toThrow(/answered twice/);
    expect(book.inFlight).toBe(0);
  });

  it('regression: a client leaving mid-upload was counted in flight forever', () => {
    const book = new RequestBook('unit', () => undefined);
    const { response, leave } = fakeResponse();
    book.begin(response, 'other');
    leave();
    expect(book.inFlight).toBe(0);
  });

  it("a client leaving while the ledger works is settled by the ledger's answer, which writes nothing", () => {
    const book = new RequestBook('unit', () => undefined);
    const { response, written, leave } = fakeResponse();
    const exchange = book.begin(response, 'other');
    exchange.awaitingAnswer = true;
    leave();
    expect(book.inFlight).toBe(1);
    book.reply(exchange, '200 OK', '{}');
    expect(book.inFlight).toBe(0);
    expect(written).toEqual([]);
  });

  it('replyAfter keeps a request whose client left in flight until the answer it waits for, which writes nothing', async () => {
    const book = new RequestBook('unit', () => undefined);
    const { response, written, leave } = fakeResponse();
    const exchange = book.begin(response, 'other');
    let answer: (value: string) => void = () => undefined;
    book.replyAfter(
      exchange,
      new Promise<string>((resolve) => {
        answer = resolve;
      }),
      (body) => book.reply(exchange, '200 OK', body),
    );
    leave();
    expect(book.inFlight).toBe(1);
    answer('{}');
    await new Promise((resolve) => setImmediate(resolve));
    expect(book.inFlight).toBe(0);
    expect(written).toEqual([]);
  });

  it('counts the requests it begins by route, any route it was not given as other', () => {
    const book = new RequestBook('unit', () => undefined, ['extrato']);
    book.begin(fakeResponse().response, 'extrato');
    book.begin(fakeResponse().response, 'health');
    book.begin(fakeResponse().response, 'toString');
    expect(book.served).toEqual({ extrato: 1, other: 2 });
  });

  it('whenIdle resolves once the last request settles, or false at its timeout', async () => {
    const book = new RequestBook('unit', () => undefined);
    const exchange = book.begin(fakeResponse().response, 'other');
    const idle = book.whenIdle(60_000);
    book.reply(exchange, '200 OK', '{}');
    expect(await idle).toBe(true);

    const stuck = new RequestBook('unit', () => undefined);
    stuck.begin(fakeResponse().response, 'other');
    expect(await stuck.whenIdle(10)).toBe(false);
  });
});
