// A process and all of its descendants, read from /proc: how a test freezes
// PostgreSQL (the postmaster and every backend it forked).

import fs from 'node:fs';

function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export function processTree(rootPid: number): number[] {
  const all = fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number);
  const members = [rootPid];
  for (let index = 0; index < members.length; index++) {
    for (const pid of all) if (parentOf(pid) === members[index]) members.push(pid);
  }
  return members;
}
