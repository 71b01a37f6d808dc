// Owns the launcher lock: one launcher per data directory, since a second
// would take the first one's PostgreSQL for a leftover and stop it. The lock
// is a unix socket in Linux's abstract namespace, named after the data
// directory's real path: binding it is one atomic step (of two launchers
// started together, exactly one binds), and the kernel lets go of it when the
// launcher exits however it exits, SIGKILL included, so it is never stale and
// no pid has to be recognised. launcher.pid only names the holder when a
// second launcher is refused.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { readPidFile } from './processes.js';

export interface LauncherLock {
  release(): void;
}

/** Takes the data directory's lock, or throws "already running" naming the launcher that holds it. */
export async function acquireLauncherLock(dataDirectory: string, runDirectory: string): Promise<LauncherLock> {
  const digest = createHash('sha256').update(fs.realpathSync(dataDirectory)).digest('hex').slice(0, 32);
  // The leading NUL puts the name in the abstract namespace: no file, nothing to clean up.
  const name = `\0crebito-launcher-${digest}`;
  // Nobody has anything to say to the lock; a connection is closed at once.
  const server = net.createServer((socket) => socket.destroy());
  const bound = await new Promise<boolean>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(false) : reject(error),
    );
    server.listen(name, () => resolve(true));
  });
  const pidFile = path.join(runDirectory, 'launcher.pid');
  if (!bound) {
    // Written just after the holder bound the lock: missing only in that instant.
    const holder = readPidFile(pidFile);
    throw new Error(
      holder === undefined
        ? `crebito is already running on ${dataDirectory} (a launcher that is just starting)`
        : `crebito is already running (launcher pid ${holder}) on ${dataDirectory}; stop it first with: kill -TERM ${holder}`,
    );
  }
  // The lock must not keep the launcher alive on its own.
  server.unref();
  fs.writeFileSync(pidFile, `${process.pid}\n`);
  return {
    release() {
      fs.rmSync(pidFile, { force: true });
      server.close();
    },
  };
}
