// Small HTTP helpers for tests: JSON requests with fetch, and raw bytes over a
// plain TCP socket for the requests fetch refuses to send (broken framing,
// trailing garbage, lying Content-Length).

import http from 'node:http';
import net from 'node:net';

export interface JsonResponse {
  status: number;
  body: any;
  text: string;
  headers: Headers;
}

export async function request(baseUrl: string, method: string, path: string, body?: unknown): Promise<JsonResponse> {
  const init: RequestInit = { method, headers: { 'content-type': 'application/json' } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(`${baseUrl}${path}`, init);
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed, text, headers: response.headers };
}

export function postTransaction(baseUrl: string, clientId: number | string, body: unknown): Promise<JsonResponse> {
  return request(baseUrl, 'POST', `/clientes/${clientId}/transacoes`, body);
}

export function getStatement(baseUrl: string, clientId: number | string): Promise<JsonResponse> {
  return request(baseUrl, 'GET', `/clientes/${clientId}/extrato`);
}

export interface KeyedResponse {
  status: number;
  /** The body exactly as it came, for byte-for-byte comparisons. */
  bytes: Buffer;
  replayed: boolean;
  instance: string | null;
}

/** A keyed answer from its status, body and a reader of its headers (fetch's or node:http's). */
function keyedResponse(status: number, bytes: Buffer, header: (name: string) => string | null): KeyedResponse {
  return { status, bytes, replayed: header('idempotent-replayed') === 'true', instance: header('x-crebito-instance') };
}

/** POST /clientes/{id}/transacoes with an Idempotency-Key header. */
export async function postWithKey(
  baseUrl: string,
  clientId: number,
  body: unknown,
  key: string,
): Promise<KeyedResponse> {
  const response = await fetch(`${baseUrl}/clientes/${clientId}/transacoes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  });
  return keyedResponse(response.status, Buffer.from(await response.arrayBuffer()), (name) =>
    response.headers.get(name),
  );
}

/** The same keyed POST straight to one instance's unix socket, past nginx (which sends a client's transactions to one home instance). */
export function postWithKeyToInstance(
  socketPath: string,
  clientId: number,
  body: unknown,
  key: string,
): Promise<KeyedResponse> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        socketPath,
        method: 'POST',
        path: `/clientes/${clientId}/transacoes`,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          'idempotency-key': key,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve(
            keyedResponse(
              response.statusCode!,
              Buffer.concat(chunks),
              (name) => (response.headers[name] as string | undefined) ?? null,
            ),
          ),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

/** Sends raw bytes and returns everything the server wrote until it closed or went quiet. */
export function rawExchange(port: number, payload: string | Buffer, quietMs = 300): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    };
    socket.on('connect', () => {
      socket.write(payload);
      arm();
    });
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      arm();
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', (error) => (received === '' ? reject(error) : finish()));
  });
}

/** The status code of the first HTTP response in a raw reply. */
export function statusOf(raw: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(raw);
  return match === null ? 0 : Number(match[1]);
}
