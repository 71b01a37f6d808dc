// The port the harness gives a stack (or any child that binds later). A stack test used to take 9999 when it looked
// free, and a free port otherwise, and another run's stack on the machine took the same port between the look and
// nginx's bind: the later stack failed to start. freePort now picks below the ephemeral range, never 9999, and
// reserves what it picked among every harness on the machine until its process exits.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { freePort } from '../../tools/harness/stack.js';

const ephemeral = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
const harness = path.join(PROJECT_ROOT, 'dist', 'tools', 'harness', 'stack.js');

/** Whether this process can take the abstract name another harness reserves a port by. */
async function reservable(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(`\0crebito-harness-port-${port}`, () => server.close(() => resolve(true)));
  });
}

/** A child process that picks a port with the compiled harness, says which, and lives until its stdin closes. */
function pickInAnotherProcess(): Promise<{ port: number; exit: () => Promise<void> }> {
  const script = `const { freePort } = await import(${JSON.stringify(harness)});
    process.stdout.write(String(await freePort()) + '\\n'); process.stdin.resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the picking process exited (${code}) before it picked`)));
    child.stdout.once('data', (chunk: Buffer) =>
      resolve({ port: Number(chunk.toString().trim()), exit: () => (child.stdin.end(), exited) }),
    );
  });
}

describe('freePort, the port a stack test gives its stack', () => {
  it('a stack test took 9999 or an ephemeral port another run could take before nginx bound it', async () => {
    const ports = [];
    for (let pick = 0; pick < 50; pick += 1) ports.push(await freePort());
    expect(new Set(ports).size, 'one process never gets the same port twice').toBe(ports.length);
    for (const port of ports) {
      expect(port).not.toBe(9999);
      expect(port < ephemeral[0]! || port > ephemeral[1]!, `${port} is outside ${ephemeral.join('-')}`).toBe(true);
    }
  });

  it('two runs side by side picked the same port: another process holds what it picked until it exits', async () => {
    const other = await pickInAnotherProcess();
    expect(await reservable(other.port), 'reserved while the other process lives').toBe(false);
    // The port itself is left free for the process's child to bind.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(other.port, resolve));
    await new Promise((resolve) => server.close(resolve));
    await other.exit();
    expect(await reservable(other.port), 'let go of when it exits').toBe(true);
  });
});
