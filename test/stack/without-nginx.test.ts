// Without nginx the quick start must not dead-end: the launcher says so in one
// line and the instances share the public port themselves (SO_REUSEPORT).
// CREBITO_NGINX=off takes the same path as a machine without nginx.

import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeDataDirectory, type RunningStack, startStack } from '../../tools/harness/stack.js';
import { LEAN_STACK } from '../support/lean-stack.js';

let stack: RunningStack;

beforeAll(async () => {
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: { ...LEAN_STACK, CREBITO_NGINX: 'off' },
  });
});

afterAll(async () => {
  await stack?.dispose();
});

/** One request on a new connection, so the kernel spreads them over the instances. */
function instanceOnFreshConnection(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/clientes/1/extrato', agent: false }, (response) => {
        response.resume();
        response.on('end', () => resolve(String(response.headers['x-crebito-instance'])));
      })
      .on('error', reject);
  });
}

describe('npm start without nginx', () => {
  it('says so in one line and serves on the public port from both instances', async () => {
    const lines = stack
      .output()
      .split('\n')
      .filter((line) => line.includes('share port'));
    expect(lines).toHaveLength(1);
    expect(stack.state().mode).toBe('direct');

    const seen = new Set<string>();
    for (let attempt = 0; attempt < 200 && seen.size < 2; attempt++)
      seen.add(await instanceOnFreshConnection(stack.port));
    expect([...seen].sort()).toEqual(['api-1', 'api-2']);
  });

  it('serves the contract: a transaction and its statement', async () => {
    const response = await fetch(`${stack.baseUrl}/clientes/2/transacoes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ valor: 10, tipo: 'd', descricao: 'direto' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ limite: 80000, saldo: -10 });
    const statement = await (await fetch(`${stack.baseUrl}/clientes/2/extrato`)).json();
    expect(statement.ultimas_transacoes[0]).toMatchObject({ valor: 10, tipo: 'd', descricao: 'direto' });
  });
});
