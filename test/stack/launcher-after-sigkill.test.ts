// Regression: a launcher killed with SIGKILL cannot stop what it started, and
// the embedded PostgreSQL kept running, orphaned, so the next start died with
// an opaque `undefined`. The next start must find the leftovers, stop them
// cleanly, and come up on the same data.

import { afterAll, describe, expect, it } from 'vitest';
import { isProcessAlive, processGroupMembers, waitForExit } from '../../src/stack/processes.js';
import { freePort, makeDataDirectory, type RunningStack, startStack } from '../../tools/harness/stack.js';
import { postTransaction, getStatement } from '../support/http.js';

let stack: RunningStack | undefined;

afterAll(async () => {
  await stack?.dispose();
});

describe('a launcher killed with SIGKILL', () => {
  it('leaves nothing that blocks the next start, and no acknowledged write is lost', async () => {
    const dataDirectory = makeDataDirectory();
    const port = await freePort();
    const first = await startStack({ port, dataDirectory });
    const write = await postTransaction(first.baseUrl, 1, { valor: 123, tipo: 'd', descricao: 'antes' });
    expect(write.status).toBe(200);
    const { postgres, nginx, instances } = first.state();

    first.child.kill('SIGKILL');
    await first.exited;
    // The instances notice the launcher is gone and stop by themselves.
    for (const instance of instances) expect(await waitForExit(instance.pid!, 15_000)).toBe(true);
    expect(isProcessAlive(postgres!.pid)).toBe(true);

    stack = await startStack({ port, dataDirectory });
    expect(stack.output()).toContain('did not stop cleanly');
    expect(isProcessAlive(postgres!.pid)).toBe(false);
    if (nginx?.pid !== undefined) expect(isProcessAlive(nginx.pid)).toBe(false);

    const statement = await getStatement(stack.baseUrl, 1);
    expect(statement.body.saldo.total).toBe(write.body.saldo);
    expect(statement.body.ultimas_transacoes[0]).toMatchObject({ valor: 123, tipo: 'd', descricao: 'antes' });
  });

  it('regression: after the launcher and its nginx master were both killed, the orphaned worker kept the port; the next start stops it', async () => {
    const dataDirectory = makeDataDirectory();
    const port = await freePort();
    const first = await startStack({ port, dataDirectory });
    const { nginx } = first.state();
    const workers = processGroupMembers(nginx!.pid!).filter((pid) => pid !== nginx!.pid);
    expect(workers.length).toBeGreaterThan(0);
    first.child.kill('SIGKILL');
    await first.exited;
    process.kill(nginx!.pid!, 'SIGKILL');
    expect(await waitForExit(nginx!.pid!, 15_000)).toBe(true);
    // The worker, orphaned, still holds the port.
    for (const worker of workers) expect(isProcessAlive(worker)).toBe(true);

    const second = await startStack({ port, dataDirectory });
    try {
      for (const worker of workers) expect(isProcessAlive(worker), `orphaned worker ${worker}`).toBe(false);
      expect(second.state().nginx!.pid).not.toBe(nginx!.pid);
      expect((await getStatement(second.baseUrl, 1)).status).toBe(200);
    } finally {
      await second.dispose();
    }
  });
});
