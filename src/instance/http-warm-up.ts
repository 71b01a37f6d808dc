// Owns what an instance sends itself before it listens where nginx sends
// requests: a few thousand requests through its own HTTP server, on a
// private unix socket, so that V8 has optimised the hot path (uWebSockets'
// callbacks, the body's checks, the batcher, pg's protocol, the replies)
// before the first client pays for it. Measured on a fresh stack at the
// public rate: the instances compiled functions with TurboFan for the first
// 15 s of load (about 3,000 requests each), and those seconds answered slower
// than the same stack warm (docs/latency.md, "Stalls: a stack just up").
//
// Nothing moves: statements only read, and the writes go to a client the
// instance has just seen answered 404, for the largest amount (refused twice
// over: no such client, and no limit that large). When that client exists,
// only statements are sent.

import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AMOUNT_MAX, CLIENT_ID_MAX } from '../shared/limits.js';
import type { Server } from './http/server.js';

/** Requests in flight at once: as many as a pool's connections, so that the batcher's shared calls are warmed too. */
const WARM_UP_CONCURRENCY = 4;
/** A database that answers slowly must not keep the instance from serving: the warm-up stops here, done or not. */
const WARM_UP_MS_MAX = 5000;
const ABSENT_CLIENT_ID = CLIENT_ID_MAX;
/** The contract's clients, whose statements are read (another id answers 404, which warms the same path less). */
const STATEMENT_CLIENT_IDS = [1, 2, 3, 4, 5];

interface WarmUpRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}

export interface HttpWarmUpOutcome {
  requests: number;
  /** Answers by status: the writes' 404s and the statements' 200s when all went as meant. */
  statuses: Record<string, number>;
  /** Whether writes were sent (the absent client was absent). */
  writes: boolean;
  ms: number;
}

function write(tipo: 'c' | 'd'): WarmUpRequest {
  return {
    method: 'POST',
    path: `/clientes/${ABSENT_CLIENT_ID}/transacoes`,
    body: JSON.stringify({ valor: AMOUNT_MAX, tipo, descricao: 'warm-up' }),
  };
}

/** Writes to statements as the public test sends them (22 debits, 11 credits, 1 statement), so V8 learns its mix. */
const WRITES_PER_STATEMENT = [write('d'), write('c'), write('d')];
const WRITE_ROUNDS_PER_STATEMENT = 11;

export function warmUpRequests(writes: boolean): WarmUpRequest[] {
  const statements = STATEMENT_CLIENT_IDS.map((id) => ({ method: 'GET' as const, path: `/clientes/${id}/extrato` }));
  if (!writes) return statements;
  const writeRounds = Array.from({ length: WRITE_ROUNDS_PER_STATEMENT }, () => WRITES_PER_STATEMENT).flat();
  return statements.flatMap((statement) => [...writeRounds, statement]);
}

function send(socketPath: string, agent: http.Agent, request: WarmUpRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (request.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(request.body);
    }
    const outgoing = http.request(
      { socketPath, agent, method: request.method, path: request.path, headers },
      (answer) => {
        answer.resume();
        answer.once('end', () => resolve(answer.statusCode ?? 0));
        answer.once('error', reject);
      },
    );
    outgoing.once('error', reject);
    outgoing.end(request.body);
  });
}

/** Sends `count` requests to the server's API on a private socket, then stops listening there. */
export async function warmUpHttp(server: Server, count: number): Promise<HttpWarmUpOutcome> {
  const startMs = performance.now();
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-warm-up-'));
  const socketPath = path.join(directory, 'api.sock');
  const stopListening = await server.listenWarmUp({ kind: 'unix', path: socketPath });
  const agent = new http.Agent({ keepAlive: true, maxSockets: WARM_UP_CONCURRENCY });
  const statuses: Record<string, number> = {};
  let sent = 0;
  try {
    const absent = await send(socketPath, agent, { method: 'GET', path: `/clientes/${ABSENT_CLIENT_ID}/extrato` });
    sent++;
    statuses[absent] = 1;
    const requests = warmUpRequests(absent === 404);
    const lane = async () => {
      while (sent < count && performance.now() - startMs < WARM_UP_MS_MAX) {
        const status = await send(socketPath, agent, requests[sent++ % requests.length]!);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: WARM_UP_CONCURRENCY }, lane));
    return { requests: sent, statuses, writes: absent === 404, ms: Math.round(performance.now() - startMs) };
  } finally {
    stopListening();
    agent.destroy();
    fs.rmSync(directory, { recursive: true, force: true });
  }
}
