// `node dist/tools/events/saturation-split.js`: where the change stream's
// cost at saturation goes. A diagnosis beside `npm run events:cost` (which
// publishes the cost): the same stack and the same wrk load (32 connections,
// POSTs only), in turns over variants of the stream, each measured over the
// saturation window: POSTs a second, the machine's idle and iowait time, CPU
// per process group (from /proc), and the disk's writes and flushes (from
// /proc/diskstats). Variants:
//   off     the stream off;
//   on      the stream on (CREBITO_EVENTS_CPU from --cpu; on:idle, on:normal name another), a consumer placed as
//           the stream;
//   held    on, but the publisher and the consumer stopped (SIGSTOP) for the window:
//           what wal_level=logical and the slot cost alone (the WAL sender blocks on a full socket);
//   tmpfs   on, with RabbitMQ's data on a tmpfs: its fsyncs no longer reach the disk. A diagnosis only:
//           a broker on tmpfs loses what it confirmed on a crash, so this is never a setting.
//   cap10, cap20  on, the stream's cgroup held to 10% or 20% of one core (cpu.cfs_quota_us) for the window.
// --strace counts RabbitMQ's system calls over the window (strace -c -f; it slows the broker: a separate run).
// Each variant first runs a short saturation (warm-up) and waits for the stream to catch up.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { numberOption } from '../harness/target.js';
import { freePort, makeDataDirectory, startStack } from '../harness/stack.js';
import { wrkLoad } from '../bench/load/wrk-load.js';
import { runHttpScenario, setupFor } from '../bench/run-scenario.js';
import { TRANSACOES } from '../bench/scenarios.js';
import { readLedgerRows } from '../ledger-check/stream-verdict.js';
import { ConsumerProcess } from './consumer-process.js';
import { place, preparePlacement, type StreamCpuMode } from '../../src/events/cpu.js';
import { machineTicks } from '../../src/events/cpu-cap.js';

const BROKER_PORT = 22_688;
const CONNECTIONS = 32;
const WARM_UP_SECONDS = 3;
const CATCH_UP_MAX_MS = 120_000;
const TICKS_PER_SECOND = 100;
const VARIANTS = ['off', 'on', 'held', 'tmpfs', 'cap10', 'cap20'] as const;
type Variant = (typeof VARIANTS)[number];

/** Which group a process belongs to, by its command line. */
function groupOf(cmdline: string): string | undefined {
  if (cmdline.startsWith('postgres:') && /\bwalsender\b/.test(cmdline)) return 'WAL sender';
  if (cmdline.startsWith('postgres:') && /walwriter|WAL writer/.test(cmdline)) return 'WAL writer';
  if (cmdline.startsWith('postgres:') || cmdline.includes('/postgres ')) return 'PostgreSQL other';
  if (cmdline.includes('beam.smp')) return 'RabbitMQ';
  if (cmdline.includes('publisher/main.js')) return 'publisher';
  if (cmdline.includes('consumer-process.js')) return 'consumer';
  if (cmdline.includes('instance') && cmdline.startsWith(process.execPath)) return 'instances';
  if (cmdline.startsWith('nginx')) return 'nginx';
  if (cmdline.startsWith('wrk')) return 'wrk';
  return undefined;
}

/** CPU seconds per group, over every process now alive. */
function cpuByGroup(): Map<number, { group: string; seconds: number }> {
  const result = new Map<number, { group: string; seconds: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const group = groupOf(cmdline);
      if (group === undefined) continue;
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      result.set(pid, { group, seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND });
    } catch {
      // gone meanwhile
    }
  }
  return result;
}

/** Every whole-disk device's writes completed and flush requests completed. */
function diskTicks(): number[] {
  let writes = 0;
  let flushes = 0;
  for (const line of fs.readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[2] === undefined || !/^(vd|sd|xvd)[a-z]+$/.test(fields[2])) continue;
    writes += Number(fields[7]);
    flushes += Number(fields[18] ?? 0);
  }
  return [writes, flushes];
}

interface Sample {
  cpu: Map<number, { group: string; seconds: number }>;
  machine: ReturnType<typeof machineTicks>;
  disk: number[];
}

const sample = (): Sample => ({ cpu: cpuByGroup(), machine: machineTicks(), disk: diskTicks() });

function difference(before: Sample, after: Sample, seconds: number) {
  const groups: Record<string, number> = {};
  for (const [pid, { group, seconds: used }] of after.cpu) {
    const earlier = before.cpu.get(pid)?.seconds ?? 0;
    groups[group] = (groups[group] ?? 0) + (used - earlier);
  }
  const total = after.machine.total - before.machine.total;
  return {
    cpuPercentOfOneCore: Object.fromEntries(
      Object.entries(groups)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([group, used]) => [group, Math.round((used / seconds) * 100)]),
    ),
    busyPercentOfOneCore: Math.round(
      ((total - (after.machine.idle - before.machine.idle) - (after.machine.iowait - before.machine.iowait)) / total) *
        os.cpus().length *
        100,
    ),
    idlePercent: Math.round(((after.machine.idle - before.machine.idle) / total) * 100),
    iowaitPercent: Math.round(((after.machine.iowait - before.machine.iowait) / total) * 100),
    diskWritesPerSecond: Math.round((after.disk[0]! - before.disk[0]!) / seconds),
    diskFlushesPerSecond: Math.round((after.disk[1]! - before.disk[1]!) / seconds),
  };
}

/** The broker's data directory on a tmpfs mounted beside the stack's (root only), linked where the broker looks. */
function mountTmpfs(dataDirectory: string): string {
  const mountPoint = `${dataDirectory}-rabbitmq-tmpfs`;
  fs.mkdirSync(mountPoint, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512m', 'tmpfs', mountPoint]);
  if (mounted.status !== 0) throw new Error(`tmpfs: ${mounted.stderr.toString()}`);
  fs.symlinkSync(mountPoint, path.join(dataDirectory, 'rabbitmq'));
  return mountPoint;
}

function unmount(mountPoint: string): void {
  spawnSync('umount', ['-l', mountPoint]);
  fs.rmSync(mountPoint, { recursive: true, force: true });
}

/** A hard CPU cap on the stream's cgroup (cpu.cfs_quota_us), in percent of one core: a diagnosis. */
function capStream(percent: number): void {
  const directory = `/sys/fs/cgroup/cpu/crebito-events-${BROKER_PORT}`;
  fs.writeFileSync(`${directory}/cpu.cfs_period_us`, '20000');
  fs.writeFileSync(`${directory}/cpu.cfs_quota_us`, String(200 * percent));
}

async function waitForStream(consumer: ConsumerProcess, databaseUrl: string): Promise<void> {
  const rows = (await readLedgerRows(databaseUrl, 0)).length;
  const startedAt = performance.now();
  while (consumer.distinct < rows && performance.now() - startedAt < CATCH_UP_MAX_MS)
    await new Promise((resolve) => setTimeout(resolve, 100));
}

/** strace -c -f on RabbitMQ over the window: its system calls counted (slows it: a separate diagnosis). */
function straceBroker(pid: number, seconds: number): Promise<string> {
  const child = spawn('timeout', ['-s', 'INT', String(seconds), 'strace', '-c', '-f', '-p', String(pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.on('exit', () => resolve(output)));
}

async function measure(variant: Variant, cpu: StreamCpuMode, seconds: number, strace: boolean) {
  const dataDirectory = makeDataDirectory();
  const tmpfs = variant === 'tmpfs' ? mountTmpfs(dataDirectory) : undefined;
  const stack = await startStack({
    port: await freePort(),
    dataDirectory,
    environment: {
      CREBITO_EVENTS: variant === 'off' ? 'off' : 'on',
      CREBITO_EVENTS_CPU: cpu,
      // No cap from the launcher: the capN variants set one by hand, the others measure the stream without.
      CREBITO_EVENTS_CPU_CAP: '0',
      CREBITO_EVENTS_BROKER_PORT: String(BROKER_PORT),
      CREBITO_EVENTS_ADMIN_PORT: '0',
      CREBITO_DATABASE_MODE: 'durable',
    },
  });
  let consumer: ConsumerProcess | undefined;
  try {
    const state = stack.state();
    const setup = setupFor(state);
    if (variant !== 'off') {
      consumer = new ConsumerProcess(`amqp://127.0.0.1:${BROKER_PORT}`, 'saturation-split');
      await consumer.start();
      place(consumer.pid!, preparePlacement(cpu, BROKER_PORT), false);
    }
    const load = (durationSeconds: number) =>
      runHttpScenario(setup, TRANSACOES, {
        generator: wrkLoad,
        model: { kind: 'closed', connections: CONNECTIONS },
        durationSeconds,
      });
    await load(WARM_UP_SECONDS);
    if (consumer !== undefined) await waitForStream(consumer, state.databaseUrl);
    else await new Promise((resolve) => setTimeout(resolve, 3000));
    if (variant.startsWith('cap')) capStream(Number(variant.slice(3)));
    const held = variant === 'held' ? [state.events!.publisher.pid!, consumer!.pid!] : [];
    for (const pid of held) process.kill(pid, 'SIGSTOP');
    const traced = strace && variant !== 'off' ? straceBroker(state.events!.broker.pid!, seconds) : undefined;
    const before = sample();
    const startedAt = performance.now();
    const result = await load(seconds);
    const after = sample();
    for (const pid of held) process.kill(pid, 'SIGCONT');
    const split = difference(before, after, (performance.now() - startedAt) / 1000);
    if (consumer !== undefined) await waitForStream(consumer, state.databaseUrl);
    return {
      variant,
      ...(variant === 'off' ? {} : { cpu }),
      postsPerSecond: Math.round(result.requestsPerSecond),
      errors: result.errors + result.unexpectedStatuses,
      ...split,
      ...(traced === undefined ? {} : { strace: await traced }),
    };
  } finally {
    await consumer?.stop().catch(() => undefined);
    await stack.dispose();
    if (tmpfs !== undefined) unmount(tmpfs);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variants: { type: 'string', default: 'off,on,held,tmpfs' },
      rounds: { type: 'string', default: '1' },
      duration: { type: 'string', default: '10' },
      cpu: { type: 'string', default: 'low' },
      strace: { type: 'boolean', default: false },
    },
  });
  const variants = values.variants!.split(',').map((text) => {
    const [variant, cpu = values.cpu!] = text.split(':');
    if (!(VARIANTS as readonly string[]).includes(variant!) || !['idle', 'low', 'normal'].includes(cpu))
      throw new Error(`a variant is one of ${VARIANTS.join(', ')}, optionally with :idle, :low or :normal`);
    return { variant: variant as Variant, cpu: cpu as StreamCpuMode };
  });
  const rounds = numberOption(values.rounds, 'rounds', { min: 1, max: 10, whole: true });
  const seconds = numberOption(values.duration, 'duration', { min: 2, max: 120, whole: true });
  console.log(
    `load average before: ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(', ')}`,
  );
  for (let round = 0; round < rounds; round++)
    for (const { variant, cpu } of variants)
      console.log(JSON.stringify(await measure(variant, cpu, seconds, values.strace!)));
  console.log(
    `load average after: ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(', ')}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
