// Where the bench's files that run elsewhere are: a worker thread's entry
// and a preload are the compiled ones in dist/ (the tests run the bench from
// source, but a thread or a process of its own loads JavaScript), and wrk's
// script is read from the source tree.

import path from 'node:path';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const COMPILED = path.join(PROJECT_ROOT, 'dist', 'tools', 'bench');

export const NODE_LOAD_WORKER_ENTRY = path.join(COMPILED, 'load', 'node-load-worker.js');
export const JOIN_CGROUP_ENTRY = path.join(COMPILED, 'limits', 'join-cgroup.js');
export const WRK_SCRIPT = path.join(PROJECT_ROOT, 'tools', 'bench', 'load', 'wrk-load.lua');
export const DB_ALONE_WORKER_ENTRY = path.join(COMPILED, 'latency', 'db-alone-worker.js');
