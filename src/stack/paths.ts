// Owns where things are on disk: the project folder (found from this file,
// whether it runs from src/ or dist/src/), and the compiled entry points the
// launcher and the tools start.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(directory, 'package.json'))) {
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error('cannot find the project folder (no package.json above this file)');
    directory = parent;
  }
  return directory;
}

export const PROJECT_ROOT = findProjectRoot();
/** The compiled entry points (npm run build). */
export const INSTANCE_ENTRY = path.join(PROJECT_ROOT, 'dist', 'src', 'instance', 'main.js');
export const LAUNCHER_ENTRY = path.join(PROJECT_ROOT, 'dist', 'src', 'stack', 'main.js');
