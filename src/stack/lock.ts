// Owns the launcher lock: one launcher per data directory, since a second
// would fight the first over the database. launcher.pid in the run directory
// names the launcher that holds it.

import fs from 'node:fs';
import path from 'node:path';
import { isRunningAs, readPidFile } from './processes.js';

export interface LauncherLock {
  release(): void;
}

/** Takes the data directory's lock, or throws "already running" naming the launcher that holds it. */
export async function acquireLauncherLock(dataDirectory: string, runDirectory: string): Promise<LauncherLock> {
  const pidFile = path.join(runDirectory, 'launcher.pid');
  const holder = readPidFile(pidFile);
  if (holder !== process.pid && isRunningAs(holder, 'node')) {
    throw new Error(`crebito is already running (launcher pid ${holder}) on ${dataDirectory}; stop it first with: kill -TERM ${holder}`);
  }
  fs.writeFileSync(pidFile, `${process.pid}\n`);
  return {
    release() {
      fs.rmSync(pidFile, { force: true });
    },
  };
}
