// Runs wrk-paced.lua: the HTTP floor at about the public rate, by wrk, as a
// second generator beside the bench's own. wrk has no open model; paced
// connections, each waiting between requests, come close at a low load
// like this one, where almost no request finds the service busy.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../../src/stack/paths.js';
import type { Percentiles } from './limit.js';

const SCRIPT = path.join(PROJECT_ROOT, 'tools', 'bench', 'latency', 'wrk-paced.lua');
/** Enough connections that each pauses tens of ms (wrk's pause is in whole ms). */
const CONNECTIONS = 10;

export const WRK_FLOOR_NAME = 'http-floor@public, by wrk (paced)';

export interface WrkPacedOutcome {
  latency: Percentiles;
  requestsPerSecond: number;
  errors: number;
}

export function parseWrkPaced(output: string): WrkPacedOutcome {
  const line = output.split('\n').find((candidate) => candidate.startsWith('wrk-paced '));
  if (line === undefined) throw new Error(`wrk printed no report:\n${output.slice(-2000)}`);
  const report = JSON.parse(line.slice('wrk-paced '.length)) as {
    requests: number;
    durationUs: number;
    errors: number;
    non2xx: number;
    p50: number;
    p99: number;
    p999: number;
    max: number;
  };
  return {
    latency: { p50: report.p50 / 1000, p99: report.p99 / 1000, p999: report.p999 / 1000, max: report.max / 1000 },
    requestsPerSecond: report.requests / (report.durationUs / 1e6),
    errors: report.errors + report.non2xx,
  };
}

export async function runWrkPaced(
  url: string,
  options: { ratePerSecond: number; durationSeconds: number },
): Promise<WrkPacedOutcome> {
  const pauseMs = Math.max(0, Math.round((CONNECTIONS * 1000) / options.ratePerSecond));
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      'wrk',
      [
        '-t1',
        `-c${CONNECTIONS}`,
        `-d${options.durationSeconds}s`,
        '--timeout',
        '10s',
        '-s',
        SCRIPT,
        url,
        '--',
        String(pauseMs),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.once('error', (error) => reject(new Error(`cannot run wrk (apt-get install wrk): ${error.message}`)));
    child.once('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}:\n${text.slice(-2000)}`)),
    );
  });
  return parseWrkPaced(output);
}
