// What a full base backup costs the requests it runs beside, apart from
// everything else a stack just up does: one durable stack, warm, its first
// backup done; then turns of the mix at the public rate, alternating "quiet"
// (nothing else) with "backup" (a full pgBackRest backup at normal priority
// started as the turn begins) and, with --nice, "backup niced" (the same
// backup at the launcher's priority, BACKUP_NICENESS). Latencies are pooled
// per kind. (The first figures, results/stalls/backup-during-load-nice19-*,
// were taken with nice 19.)
//
//   node dist/tools/bench/backup-during-load.js --rounds 4 --duration 8 --nice
//
// Writes results/stalls/backup-during-load-durable.{json,md} with `uptime` before and after.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { BACKUP_NICENESS, STANZA } from '../../src/stack/backup/pgbackrest.js';
import { waitFor } from '../../src/shared/wait.js';
import { freePort, makeDataDirectory, startStack, type RunningStack } from '../harness/stack.js';
import { numberOption } from '../harness/target.js';
import { LatencyHistogram } from './load/latency-histogram.js';
import { nodeLoad } from './load/node-load.js';
import { milliseconds } from './report/report.js';
import { MIX, PUBLIC_TEST_RATE_PER_SECOND } from './scenarios.js';
import { uptime } from './latency/public-latency.js';

const FIRST_BACKUP_TIMEOUT_MS = 120_000;
type Kind = 'quiet' | 'backup' | 'backup niced';

/** A full backup of the stack's cluster, as the launcher runs it (same configuration, user and key). */
function fullBackup(dataDirectory: string, niced: boolean): Promise<{ seconds: number; code: number | null }> {
  const configFile = path.join(dataDirectory, 'backup', 'pgbackrest.conf');
  const owner = fs.statSync(configFile);
  const key = fs.readFileSync(path.join(dataDirectory, 'backup', 'key'), 'utf8').trim();
  const args = [`--config=${configFile}`, `--stanza=${STANZA}`, '--type=full', 'backup'];
  const [command, commandArgs] = niced
    ? ['nice', ['-n', String(BACKUP_NICENESS), 'pgbackrest', ...args]]
    : ['pgbackrest', args];
  const startedMs = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, {
      uid: owner.uid,
      gid: owner.gid,
      env: { ...process.env, PGBACKREST_REPO1_CIPHER_PASS: key },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ seconds: (Date.now() - startedMs) / 1000, code }));
  });
}

async function turn(stack: RunningStack, kind: Kind, durationSeconds: number, pooled: LatencyHistogram) {
  const backup = kind === 'quiet' ? undefined : fullBackup(stack.dataDirectory, kind === 'backup niced');
  const outcome = await nodeLoad.run({
    url: stack.baseUrl,
    model: { kind: 'open', ratePerSecond: PUBLIC_TEST_RATE_PER_SECOND, connection: 'new' },
    durationSeconds,
    requests: MIX.requests(),
  });
  const backupOutcome = await backup;
  pooled.add(outcome.latencyHistogram!);
  const { p50, p99, p999, max } = outcome.latency;
  const line =
    `| ${kind} | ${milliseconds(p50)} | ${milliseconds(p99)} | ${milliseconds(p999)} | ${milliseconds(max)} | ` +
    `${milliseconds(outcome.sendLag?.p99 ?? 0)} | ` +
    `${backupOutcome === undefined ? '' : `${backupOutcome.seconds.toFixed(1)} s, exit ${backupOutcome.code}`} |`;
  console.log(line);
  return { line, errors: outcome.errors };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '4' },
      duration: { type: 'string', default: '8' },
      nice: { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(PROJECT_ROOT, 'results', 'stalls') },
    },
  });
  const rounds = numberOption(values.rounds, 'rounds', { min: 1, max: 50, whole: true });
  const durationSeconds = numberOption(values.duration, 'duration', { min: 1, max: 600, whole: true });
  const kinds: Kind[] = values.nice ? ['quiet', 'backup', 'backup niced'] : ['quiet', 'backup'];
  const pooled = new Map(kinds.map((kind) => [kind, new LatencyHistogram()]));
  const lines: string[] = [];
  const uptimeBefore = uptime();
  const stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: { CREBITO_DATABASE_MODE: 'durable', CREBITO_BACKUPS: 'on' },
  });
  let errors = 0;
  try {
    const firstBackup = await waitFor(async () => stack.output().includes('"msg":"full backup taken"'), {
      timeoutMs: FIRST_BACKUP_TIMEOUT_MS,
      intervalMs: 200,
    });
    if (firstBackup === undefined) throw new Error('the first backup was not taken in time');
    await turn(stack, 'quiet', durationSeconds, new LatencyHistogram());
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const result = await turn(stack, kind, durationSeconds, pooled.get(kind)!);
        lines.push(result.line);
        errors += result.errors;
      }
    }
  } finally {
    await stack.dispose();
  }
  const markdown = render(kinds, pooled, lines, { rounds, durationSeconds, uptimeBefore, uptimeAfter: uptime() });
  fs.mkdirSync(values.out, { recursive: true });
  const base = path.join(values.out, 'backup-during-load-durable');
  fs.writeFileSync(`${base}.md`, markdown);
  const summaries = Object.fromEntries([...pooled].map(([kind, histogram]) => [kind, histogram.summary()]));
  fs.writeFileSync(`${base}.json`, `${JSON.stringify({ rounds, durationSeconds, summaries }, null, 2)}\n`);
  console.log(markdown);
  if (errors > 0) process.exitCode = 1;
}

function render(
  kinds: Kind[],
  pooled: Map<Kind, LatencyHistogram>,
  lines: string[],
  meta: { rounds: number; durationSeconds: number; uptimeBefore: string; uptimeAfter: string },
): string {
  return [
    '# A full backup beside the public rate, durable mode',
    '',
    `One warm durable stack (its first backup done); ${meta.rounds} rounds of turns (${kinds.join(', ')}; the ` +
      `order reversed every other round), each the mix at ${PUBLIC_TEST_RATE_PER_SECOND} req/s (a new connection ` +
      `per request) for ${meta.durationSeconds} s; in a backup turn a full pgBackRest backup starts with the load. ` +
      'Written by `node dist/tools/bench/backup-during-load.js`.',
    '',
    `Load average before: \`${meta.uptimeBefore}\`; after: \`${meta.uptimeAfter}\`.`,
    '',
    '| turns | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...kinds.map((kind) => {
      const s = pooled.get(kind)!.summary();
      return (
        `| ${kind} | ${s.count} | ${milliseconds(s.p50)} | ${milliseconds(s.p90)} | ${milliseconds(s.p99)} | ` +
        `${milliseconds(s.p999)} | ${milliseconds(s.max)} |`
      );
    }),
    '',
    'Each turn:',
    '',
    '| turn | p50 | p99 | p99.9 | max | send lag p99 | backup took |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...lines,
    '',
  ].join('\n');
}

main().catch((error: unknown) => {
  console.error(`backup-during-load: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
