// Runs wrk-paced.lua: the HTTP floor at about the public rate, by wrk, as a
// second generator beside the bench's own. wrk has no open model; paced
// connections, each waiting between requests, come close at a low load
// like this one, where almost no request finds the service busy.
//
// The bench's own generator opens a connection per request and closes it
// once answered, so nginx holds one or two at a time; wrk does the same
// with two connections and Connection: close (it reconnects after each
// answer). With ten connections (as before) nginx held ten idle ones, each
// pausing 29 ms, and wrk's median came out 1.4x the bench's on a quiet
// machine, 2.2x its own with one connection on a busy one
// (docs/latency.md). What remains different: wrk times from the request's
// first byte, after the TCP handshake, which the bench's figure includes.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../../src/stack/paths.js';
import type { Percentiles } from './limit.js';

const SCRIPT = path.join(PROJECT_ROOT, 'tools', 'bench', 'latency', 'wrk-paced.lua');
/** As many connections open at once as the bench's own generator keeps at this rate (one, at times two). */
const CONNECTIONS = 2;
/** The floor's time per request, taken from each connection's pause so that the rate comes out as asked. */
const EXPECTED_LATENCY_US_DEFAULT = 400;

export const WRK_FLOOR_NAME = 'http-floor@public, by wrk (paced)';
export const WRK_FLOOR_POLICY = { connections: CONNECTIONS, policy: 'close' } as const;
export const WRK_FLOOR_GENERATOR =
  `wrk, ${CONNECTIONS} paced connections, Connection: close (a new connection per request), ` +
  "timed from the request's first byte";
export const WRK_FLOOR_NOTE =
  'both send each request on a connection of its own, one or two open at a time, about evenly spaced; wrk ' +
  "leaves out the TCP handshake (made during its pause), which the bench's figure includes";

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
  options: {
    ratePerSecond: number;
    durationSeconds: number;
    connections?: number;
    policy?: 'close' | 'keep-alive';
    /** What a request takes, so that pause + answer comes to the rate's interval. */
    expectedLatencyUs?: number;
  },
): Promise<WrkPacedOutcome> {
  const connections = options.connections ?? CONNECTIONS;
  const intervalUs = (connections * 1e6) / options.ratePerSecond;
  const pauseUs = Math.max(0, Math.round(intervalUs - (options.expectedLatencyUs ?? EXPECTED_LATENCY_US_DEFAULT)));
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      'wrk',
      [
        '-t1',
        `-c${connections}`,
        `-d${options.durationSeconds}s`,
        '--timeout',
        '10s',
        '-s',
        SCRIPT,
        url,
        '--',
        String(pauseUs),
        options.policy ?? 'close',
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
