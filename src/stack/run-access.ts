// Owns who may reach the stack's parts on this machine. An instance's unix
// socket is the API without nginx in front (no rate limit, no header rules),
// so only nginx's workers may connect to it: a local user who could would
// bypass every rule nginx enforces. The launcher's umask keeps what it and
// its children create private from the start; once an instance listens, its
// socket is handed to nginx's worker user (mode 0600). The run directory
// itself lets others pass through (PostgreSQL's and nginx's users must reach
// their own entries) but not list it.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import type { StackLog } from '../shared/log.js';
import { parseListenTarget } from '../shared/listen.js';

// Files and sockets the launcher and its children create: owner only.
const PRIVATE_UMASK = 0o077;
// Others may traverse (to PostgreSQL's own socket directory) but not list.
const RUN_DIRECTORY_MODE = 0o711;
const SOCKET_MODE = 0o600;
// The users distributions run nginx's workers as, most common first.
const NGINX_USER_CANDIDATES = ['www-data', 'nginx'];
const FALLBACK_NGINX_USER = 'nobody';

export interface RunAccess {
  /** Who nginx's workers run as: set only when the launcher runs as root (nginx ignores it otherwise). */
  nginxWorker: { user: string; group: string; uid: number; gid: number } | undefined;
}

function lookUpUser(user: string): { uid: number; gid: number; group: string } | undefined {
  const id = (flag: string) => spawnSync('id', [flag, user], { encoding: 'utf8' });
  const uid = id('-u');
  if (uid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(id('-g').stdout.trim()), group: id('-gn').stdout.trim() };
}

/** As root, nginx's workers need a user of their own; the first of the usual ones this machine has. */
function nginxWorkerWhenRoot(log: StackLog): RunAccess['nginxWorker'] {
  for (const user of NGINX_USER_CANDIDATES) {
    const found = lookUpUser(user);
    if (found !== undefined) return { user, ...found };
  }
  const fallback = lookUpUser(FALLBACK_NGINX_USER);
  if (fallback === undefined)
    throw new Error(
      `running as root, but none of ${[...NGINX_USER_CANDIDATES, FALLBACK_NGINX_USER].join(', ')} exists to run nginx's workers as`,
    );
  log.warn(
    `no ${NGINX_USER_CANDIDATES.join(' or ')} user: nginx's workers run as ${FALLBACK_NGINX_USER}, ` +
      "so any process of that user can reach the instances' sockets",
  );
  return { user: FALLBACK_NGINX_USER, ...fallback };
}

/** Makes the run directory (and what the launcher creates from now on) private; says who nginx's workers are. */
export function prepareRunDirectory(runDirectory: string, log: StackLog): RunAccess {
  // The data directory above keeps the usual mode: PostgreSQL's user passes through it.
  fs.mkdirSync(runDirectory, { recursive: true });
  fs.chmodSync(runDirectory, RUN_DIRECTORY_MODE);
  process.umask(PRIVATE_UMASK);
  return { nginxWorker: process.getuid?.() === 0 ? nginxWorkerWhenRoot(log) : undefined };
}

/** Once an instance listens on a unix socket: nginx's workers alone may connect (root, as ever, may too). */
export function restrictInstanceSocket(listen: string, access: RunAccess): void {
  const target = parseListenTarget(listen);
  if (target.kind !== 'unix') return;
  if (access.nginxWorker !== undefined) fs.chownSync(target.path, access.nginxWorker.uid, access.nginxWorker.gid);
  fs.chmodSync(target.path, SOCKET_MODE);
}
