// Owns finding a program the launcher runs beside the service (nginx,
// Prometheus): PATH first, then the places packages usually put it.

import fs from 'node:fs';
import path from 'node:path';

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function findExecutable(
  name: string,
  candidates: readonly string[],
  environment: Record<string, string | undefined>,
): string | undefined {
  for (const directory of (environment.PATH ?? '').split(path.delimiter)) {
    if (directory !== '' && isExecutable(path.join(directory, name))) return path.join(directory, name);
  }
  return candidates.find(isExecutable);
}
