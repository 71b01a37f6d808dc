// Owns the Prometheus that `npm start` runs beside the stack when
// CREBITO_PROMETHEUS=on: finding the binary, writing its configuration, and
// keeping its list of targets (every instance's admin address) current. The
// targets live in a file Prometheus watches (file_sd), so an instance that
// comes back on another port is scraped there without restarting Prometheus.

import fs from 'node:fs';
import path from 'node:path';
import type { StackLog } from '../shared/log.js';
import { readSettings, type Environment } from '../shared/settings.js';
import {
  CHILD_POLL_INTERVAL_MS,
  CHILD_READY_TIMEOUT_MS,
  CHILD_STOP_TIMEOUT_MS,
  hasExited,
  startChild,
  type Child,
} from './child.js';
import { getFromListenAddress } from './http.js';
import { replaceFileWhole } from './state.js';
import { findExecutable } from './executables.js';
import { waitForOrThrow } from '../shared/wait.js';

const PROMETHEUS_CANDIDATES = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'];

export const PROMETHEUS_JOB = 'crebito';

export interface PrometheusPlan {
  binary: string;
  directory: string;
  port: number;
  scrapeIntervalMs: number;
}

/** The prometheus binary: PROMETHEUS_BINARY (a setting), then PATH, then the usual install places. */
export function findPrometheus(environment: Environment = process.env): string | undefined {
  return (
    readSettings(environment, ['prometheusBinary']).prometheusBinary ??
    findExecutable('prometheus', PROMETHEUS_CANDIDATES, environment)
  );
}

const targetsPath = (plan: PrometheusPlan) => path.join(plan.directory, 'targets.json');

/** Rewrites the scrape targets: one per instance admin address, labelled with the instance's name. */
export function writePrometheusTargets(plan: PrometheusPlan, targets: { name: string; admin: string }[]): void {
  const groups = targets.map((target) => ({ targets: [target.admin], labels: { api: target.name } }));
  fs.mkdirSync(plan.directory, { recursive: true });
  replaceFileWhole(targetsPath(plan), `${JSON.stringify(groups, null, 2)}\n`);
}

function writeConfig(plan: PrometheusPlan): string {
  const interval = `${plan.scrapeIntervalMs}ms`;
  const configPath = path.join(plan.directory, 'prometheus.yml');
  fs.writeFileSync(
    configPath,
    [
      "# Written by crebito's launcher at every start; edit CREBITO_PROMETHEUS_* instead.",
      'global:',
      `  scrape_interval: ${interval}`,
      `  evaluation_interval: ${interval}`,
      'scrape_configs:',
      `  - job_name: ${PROMETHEUS_JOB}`,
      '    file_sd_configs:',
      `      - files: ['${targetsPath(plan)}']`,
      `        refresh_interval: ${interval}`,
      '',
    ].join('\n'),
  );
  return configPath;
}

export function startPrometheus(plan: PrometheusPlan, log: StackLog): Promise<Child> {
  fs.mkdirSync(path.join(plan.directory, 'data'), { recursive: true });
  if (!fs.existsSync(targetsPath(plan))) writePrometheusTargets(plan, []);
  const listen = `127.0.0.1:${plan.port}`;
  return startChild({
    name: 'prometheus',
    command: plan.binary,
    args: [
      `--config.file=${writeConfig(plan)}`,
      `--storage.tsdb.path=${path.join(plan.directory, 'data')}`,
      `--web.listen-address=${listen}`,
      '--log.level=warn',
    ],
    spawnOptions: { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
    waitUntilReady: (child) =>
      waitForOrThrow(
        `Prometheus ready on ${listen}`,
        async () => (await getFromListenAddress(listen, '/-/ready', 1000))?.status === 200,
        {
          timeoutMs: CHILD_READY_TIMEOUT_MS,
          intervalMs: CHILD_POLL_INTERVAL_MS,
          abandonWhen: () => hasExited(child),
        },
      ),
    readyTimeoutMs: CHILD_READY_TIMEOUT_MS,
    stopSignal: 'SIGTERM',
    stopTimeoutMs: CHILD_STOP_TIMEOUT_MS,
    forceSignal: 'SIGKILL',
    log,
  });
}
