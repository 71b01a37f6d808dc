// The bench's saturation generator: wrk, Debian's package (`.ci/run` installs
// it). C and epoll, it spends less CPU per request than any generator
// written in JavaScript, and on a two-core machine whatever the generator
// spends, the service does not get. It runs the closed model only; its
// latencies are kept to the microsecond. wrk-load.lua feeds it the bench's
// requests and reports, as one line of JSON, what the bench reads here.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LatencySummary } from './latency-histogram.js';
import { WRK_SCRIPT } from '../paths.js';
import { checkModel, type LoadGenerator, type LoadOutcome, type LoadPlan, type LoadRequest } from './load-generator.js';

const WRK_BINARY = 'wrk';
const REPORT_MARKER = 'wrk-report ';
/** One thread: on two cores shared with the service, a second wrk thread measured slower, not faster. */
const WRK_THREADS = 1;
/** As long as nginx waits for an instance: an answer later than that is not coming. */
const WRK_TIMEOUT_SECONDS = 10;

interface WrkReport {
  requests: number;
  durationUs: number;
  errors: { connect: number; read: number; write: number; timeout: number };
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number };
  statuses: Record<string, number>;
}

/** The requests as wrk-load.lua reads them: method, path and body, tab-separated, one a line. */
function requestsFile(requests: LoadRequest[]): string {
  const lines = requests.map((request) => {
    const fields = [request.method, request.path, request.body ?? ''];
    if (fields.some((field) => /[\t\n]/.test(field)))
      throw new Error(`a request for wrk holds a tab or a newline: ${fields.join(' ')}`);
    return fields.join('\t');
  });
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-wrk-'));
  const file = path.join(directory, 'requests.tsv');
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** The JSON line after the marker; wrk's own output is there too, for a failure's message. */
export function parseWrkReport(output: string): WrkReport {
  const line = output.split('\n').find((candidate) => candidate.startsWith(REPORT_MARKER));
  if (line === undefined) throw new Error(`wrk printed no report:\n${output.slice(-2000)}`);
  return JSON.parse(line.slice(REPORT_MARKER.length)) as WrkReport;
}

function runWrk(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(WRK_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', (error) =>
      reject(new Error(`cannot run ${WRK_BINARY} (apt-get install wrk): ${error.message}`)),
    );
    child.once('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`wrk exited with ${code}:\n${output.slice(-2000)}`)),
    );
  });
}

async function runWrkLoad(plan: LoadPlan): Promise<LoadOutcome> {
  checkModel(wrkLoad, plan.model);
  if (plan.model.kind !== 'closed') throw new Error('unreachable: checkModel lets only the closed model through');
  const file = requestsFile(plan.requests);
  try {
    const output = await runWrk([
      `-t${Math.min(WRK_THREADS, plan.model.connections)}`,
      `-c${plan.model.connections}`,
      `-d${plan.durationSeconds}s`,
      `--timeout`,
      `${WRK_TIMEOUT_SECONDS}s`,
      '-s',
      WRK_SCRIPT,
      plan.url,
      '--',
      file,
    ]);
    const report = parseWrkReport(output);
    const { connect, read, write, timeout } = report.errors;
    return {
      latency: summaryOf(report),
      sendLag: undefined,
      statusCounts: report.statuses,
      errors: connect + read + write + timeout,
      elapsedSeconds: report.durationUs / 1e6,
    };
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

function summaryOf(report: WrkReport): LatencySummary {
  const ms = (microseconds: number) => microseconds / 1000;
  const { p50, p90, p99, p999, max } = report.latencyUs;
  return { count: report.requests, p50: ms(p50), p90: ms(p90), p99: ms(p99), p999: ms(p999), max: ms(max) };
}

export const wrkLoad: LoadGenerator = {
  name: 'wrk',
  models: new Set(['closed']),
  run: runWrkLoad,
};
