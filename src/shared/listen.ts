// Owns the one notation for where a process listens, shared by the instance
// (which listens there), the launcher (which tells nginx) and the tools (which
// ask an instance for itself): `unix:/path/to.sock`, `host:port`, or a port.

export type ListenTarget = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseListenTarget(raw: string): ListenTarget {
  if (raw.startsWith('unix:')) return { kind: 'unix', path: raw.slice('unix:'.length) };
  const match = /^(?:(.+):)?([0-9]{1,5})$/.exec(raw);
  if (match === null) throw new Error(`cannot understand listen target ${JSON.stringify(raw)}`);
  // Port 0 asks the system for any free port (the admin listener allows it).
  const port = Number(match[2]);
  if (port > 65535) throw new Error(`port out of range in ${JSON.stringify(raw)}`);
  return { kind: 'tcp', host: match[1] ?? '0.0.0.0', port };
}

export function describeListenTarget(target: ListenTarget): string {
  return target.kind === 'unix' ? `unix:${target.path}` : `${target.host}:${target.port}`;
}
