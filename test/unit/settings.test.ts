// Every setting is declared once (src/shared/settings.ts); these tests hold
// the places derived from it to it: docs/operating.md's table, the launcher passing
// instance settings on, and the cross-checks between settings.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readInstanceConfig } from '../../src/instance/config.js';
import {
  DROPPED_SETTINGS,
  environmentFor,
  formerNamesSet,
  readSetting,
  PASSED_TO_INSTANCES,
  SETTINGS,
} from '../../src/shared/settings.js';
import { readLauncherConfig } from '../../src/stack/config.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { findNginx } from '../../src/stack/nginx.js';
import { findPrometheus } from '../../src/stack/prometheus.js';
import {
  renderSettingsTable,
  SETTINGS_TABLE_END,
  SETTINGS_TABLE_FILE,
  SETTINGS_TABLE_START,
} from '../../tools/generate/settings-table.js';

describe('docs/operating.md', () => {
  it('lists every setting exactly as declared', () => {
    const operating = fs.readFileSync(SETTINGS_TABLE_FILE, 'utf8');
    const start = operating.indexOf(SETTINGS_TABLE_START);
    const end = operating.indexOf(SETTINGS_TABLE_END);
    expect(start, `docs/operating.md needs a ${SETTINGS_TABLE_START} … ${SETTINGS_TABLE_END} section`).toBeGreaterThan(
      0,
    );
    const table = operating.slice(start + SETTINGS_TABLE_START.length, end).trim();
    // Made by tools/generate/settings-table.ts: npm run generate rewrites it.
    const expected = renderSettingsTable();
    expect(table, `docs/operating.md's settings table should read:\n${expected}`).toBe(expected);
  });
});

describe('reading a setting', () => {
  it.each([
    ['CREBITO_POOL_CLIENTS_MAX', 'four', /must be a whole number/],
    ['CREBITO_POOL_CLIENTS_MAX', '-1', /must be a whole number/],
    ['CREBITO_POOL_CLIENTS_MAX', '1.5', /must be a whole number/],
    ['CREBITO_POOL_CLIENTS_MAX', '0', /between 1 and 200/],
    ['CREBITO_QUEUE_LENGTH_MAX', '0', /between 1 and/],
    ['CREBITO_DATABASE_MODE', 'quick', /must be one of durable, fast/],
  ])('%s=%s stops the start: %s', (name, value, message) => {
    const setting = Object.values(SETTINGS).find((candidate) => candidate.env === name)!;
    expect(() => readSetting(setting, { [name]: value })).toThrow(message);
  });

  it('an unset or empty variable takes the declared default', () => {
    for (const setting of Object.values(SETTINGS)) {
      expect(readSetting(setting, {})).toBe(setting.default);
      expect(readSetting(setting, { [setting.env]: '' })).toBe(setting.default);
    }
  });
});

describe('a renamed setting', () => {
  it('is read under its former name for one release, with a warning, and the new name wins', () => {
    expect(readSetting(SETTINGS.writesInFlightMax, { CREBITO_BATCHES_IN_FLIGHT_MAX: '2' })).toBe(2);
    const both = { CREBITO_BATCHES_IN_FLIGHT_MAX: '2', CREBITO_WRITES_IN_FLIGHT_MAX: '3' };
    expect(readSetting(SETTINGS.writesInFlightMax, both)).toBe(3);
    expect(formerNamesSet({ CREBITO_BATCHES_IN_FLIGHT_MAX: '2' })).toEqual([
      expect.stringMatching(/CREBITO_BATCHES_IN_FLIGHT_MAX is now CREBITO_WRITES_IN_FLIGHT_MAX/),
    ]);
    expect(formerNamesSet({ CREBITO_WRITES_IN_FLIGHT_MAX: '2' })).toEqual([]);
  });
});

describe('every variable is declared', () => {
  // Code, scripts and compose files: a CREBITO_ variable read anywhere is a
  // setting of settings.ts (or a renamed or dropped one), with its meaning
  // and reason in the settings table. A name ending in _ is a family (CREBITO_PROMETHEUS_*).
  const SCANNED = ['src', 'tools', 'sql', 'test', 'nginx', 'docker-compose.yml', 'docker-compose.ha.yml', '.ci'];
  const filesUnder = (entry: string): string[] => {
    const full = path.join(PROJECT_ROOT, entry);
    if (!fs.existsSync(full)) return [];
    if (!fs.statSync(full).isDirectory()) return [full];
    return fs.readdirSync(full).flatMap((name) => filesUnder(path.join(entry, name)));
  };
  it('no CREBITO_ variable in the code is missing from settings.ts', () => {
    const declared = new Set([
      ...Object.values(SETTINGS).flatMap((setting) => [
        setting.env,
        ('formerEnv' in setting ? setting.formerEnv : '') ?? '',
      ]),
      ...Object.keys(DROPPED_SETTINGS),
    ]);
    const VARIABLE = /\bCREBITO_[A-Z0-9_]*[A-Z0-9]\b/g;
    const named = new Set(
      SCANNED.flatMap(filesUnder).flatMap((file) => fs.readFileSync(file, 'utf8').match(VARIABLE) ?? []),
    );
    expect([...named].filter((name) => !declared.has(name) && name !== 'CREBITO_X').sort()).toEqual([]);
  });
});

describe('a dropped setting', () => {
  it('is warned about for one release when set, with why', () => {
    expect(formerNamesSet({ CREBITO_UPSTREAM: 'tcp' })).toEqual([
      expect.stringMatching(/CREBITO_UPSTREAM is no longer read.*unix sockets/),
    ]);
  });
});

describe('the programs the launcher runs', () => {
  it('regression: NGINX_BINARY and PROMETHEUS_BINARY were read beside the settings table; they are settings, and win over the search', () => {
    expect(findNginx({ NGINX_BINARY: '/opt/x/nginx', PATH: '' })).toBe('/opt/x/nginx');
    expect(findPrometheus({ PROMETHEUS_BINARY: '/opt/x/prometheus', PATH: '' })).toBe('/opt/x/prometheus');
    expect(Object.values(SETTINGS).map((setting) => setting.env)).toEqual(
      expect.arrayContaining(['NGINX_BINARY', 'PROMETHEUS_BINARY']),
    );
  });
});

describe('the launcher passes instance settings on', () => {
  it("every setting both read reaches an instance with the launcher's value", () => {
    // A value other than the default for each, within its bounds.
    const environment: Record<string, string> = {};
    for (const name of PASSED_TO_INSTANCES) {
      const setting = SETTINGS[name];
      if (setting.kind === 'integer') environment[setting.env] = String(Math.min(setting.max, setting.default + 1));
      if (setting.kind === 'choice')
        environment[setting.env] = setting.choices.find((choice) => choice !== setting.default)!;
    }
    environment.CREBITO_POOL_CLIENTS_MAX = '6';
    const launcher = readLauncherConfig(environment);
    const instance = readInstanceConfig({ ...environmentFor(launcher.instance), DATABASE_URL: 'postgresql://x@/y' });
    for (const name of PASSED_TO_INSTANCES) {
      if (name === 'databaseUrl') continue;
      expect(instance[name], name).toBe(launcher.instance[name]);
      expect(instance[name], name).not.toBe(SETTINGS[name].default);
    }
  });
});

describe('cross-checks', () => {
  it.each([
    [
      'calls in flight beyond the pool',
      { CREBITO_POOL_CLIENTS_MAX: '2', CREBITO_WRITES_IN_FLIGHT_MAX: '2' },
      /must not exceed CREBITO_POOL_CLIENTS_MAX/,
    ],
    [
      'a queue wait as long as the whole deadline',
      { CREBITO_QUEUE_WAIT_MS_MAX: '1000' },
      /must be less than CREBITO_REQUEST_TIMEOUT_MS/,
    ],
    [
      'pools larger than the embedded database allows',
      { CREBITO_INSTANCES: '32', CREBITO_POOL_CLIENTS_MAX: '4' },
      /need 165 database connections; the database allows 100/,
    ],
  ])('the launcher refuses %s', (_, environment, message) => {
    expect(() => readLauncherConfig(environment)).toThrow(message);
  });

  it('an instance alone refuses calls in flight beyond its pool', () => {
    expect(() => readInstanceConfig({ DATABASE_URL: 'postgresql://x@/y', CREBITO_POOL_CLIENTS_MAX: '1' })).toThrow(
      /must not exceed/,
    );
  });

  it('the defaults pass every cross-check', () => {
    expect(() => readLauncherConfig({})).not.toThrow();
    expect(() => readInstanceConfig({ DATABASE_URL: 'postgresql://x@/y' })).not.toThrow();
  });
});
