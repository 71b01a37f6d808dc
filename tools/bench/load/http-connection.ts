// One HTTP/1.1 connection of the bench's own load generator, on a raw TCP
// socket: it writes a prebuilt request and reads one answer at a time, as far
// as it needs to: the status line, the end of the headers, and the body's
// length. Node's http client builds objects for every header and answer; on
// a two-core machine shared with the service, every microsecond the
// generator spends is taken from what it measures.

import net from 'node:net';

const HEADERS_END = Buffer.from('\r\n\r\n');
/** An answer's headers larger than this are not the service's: the connection fails rather than buffer on. */
const HEADER_BYTES_MAX = 16 * 1024;
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i;
/** Answers are read into one buffer per thread (node:net's onread), not a new one per read: less garbage per request. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export interface ConnectionEvents {
  /** One whole answer arrived; the connection is free again unless `reusable` is false. */
  onAnswer: (status: number, reusable: boolean) => void;
  /** The connection broke or the server closed it; an answer in flight is lost. */
  onFailure: (error: Error) => void;
}

export class HttpConnection {
  private readonly socket: net.Socket;
  /** The start of an answer that has not all arrived yet (a copy: the read buffer is reused). */
  private pending: Buffer | undefined;
  private inFlight = false;
  private closed = false;

  constructor(
    address: { host: string; port: number },
    private readonly events: ConnectionEvents,
  ) {
    this.socket = net.connect({
      host: address.host,
      port: address.port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (byteCount: number, buffer: Uint8Array) => this.onData(buffer as Buffer, byteCount),
      },
    });
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(new Error('the server closed the connection')));
  }

  /** Sends one request; the connection must be free (no answer outstanding). */
  send(request: Uint8Array): void {
    if (this.inFlight || this.closed) throw new Error('a request was sent on a connection that is busy or closed');
    this.inFlight = true;
    this.socket.write(request);
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  /** `buffer` is shared: what is not consumed now is copied before it returns. */
  private onData(buffer: Buffer, byteCount: number): true {
    this.consume(buffer, byteCount);
    return true; // keep reading
  }

  private consume(buffer: Buffer, byteCount: number): void {
    const chunk = buffer.subarray(0, byteCount);
    const bytes = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    const headersEnd = bytes.indexOf(HEADERS_END);
    if (headersEnd < 0) {
      if (bytes.length > HEADER_BYTES_MAX)
        return this.fail(new Error(`an answer's headers passed ${HEADER_BYTES_MAX} bytes`));
      return void (this.pending = Buffer.from(bytes));
    }
    const head = bytes.toString('latin1', 0, headersEnd);
    const contentLength = CONTENT_LENGTH.exec(head);
    // The service and nginx always send Content-Length; anything else is not an answer this client can delimit.
    if (contentLength === null)
      return this.fail(new Error(`an answer without Content-Length: ${head.split('\r\n')[0]}`));
    const answerBytes = headersEnd + HEADERS_END.length + Number(contentLength[1]);
    if (bytes.length < answerBytes) return void (this.pending = Buffer.from(bytes));
    if (bytes.length > answerBytes || !this.inFlight)
      return this.fail(new Error('the server sent bytes no request asked for'));
    this.inFlight = false;
    const status = Number(head.slice(9, 12));
    const reusable = !CONNECTION_CLOSE.test(head);
    if (!reusable) this.close();
    this.events.onAnswer(status, reusable);
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.close();
    this.events.onFailure(error);
  }
}

/** A request as the bytes HttpConnection sends. */
export function rawRequest(
  host: string,
  request: { method: string; path: string; body?: string; authorization?: string },
): Buffer {
  const body = request.body ?? '';
  const headers = [`${request.method} ${request.path} HTTP/1.1`, `Host: ${host}`];
  if (request.authorization !== undefined) headers.push(`Authorization: ${request.authorization}`);
  if (request.method !== 'GET')
    headers.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
