// The settings table of docs/operating.md, between its two markers: every
// setting of src/shared/settings.ts, in the order declared there. The rest
// of the file is prose and stays as written.

import path from 'node:path';
import { SETTING_REASONS } from '../../src/shared/setting-reasons.js';
import { shownDefault, SETTINGS, type Setting, type SettingName } from '../../src/shared/settings.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import type { GeneratedFile } from './generated-file.js';

export const SETTINGS_TABLE_START = '<!-- settings:start -->';
export const SETTINGS_TABLE_END = '<!-- settings:end -->';

/** The variable, and the name it had before, which is still read for one release. */
function variableCell(setting: Setting): string {
  if (setting.formerEnv === undefined) return `\`${setting.env}\``;
  return `\`${setting.env}\` (formerly \`${setting.formerEnv}\`, still read)`;
}

export function renderSettingsTable(): string {
  const settings = Object.entries(SETTINGS) as [SettingName, Setting][];
  const service = settings.filter(([, setting]) =>
    setting.readers.some((reader) => ['instance', 'stack'].includes(reader)),
  );
  const count =
    `${settings.length} variables: ${service.length} read by the service (an instance, the launcher ` +
    `or both), ${settings.length - service.length} by the programs around it.`;
  const rows = settings.map(
    ([name, setting]) =>
      `| ${variableCell(setting)} | ${shownDefault(setting)} ` +
      `| ${setting.readers.join(', ')} | ${setting.meaning} | ${SETTING_REASONS[name]} |`,
  );
  const header = ['| variable | default | read by | meaning | why it is a setting |', '|---|---|---|---|---|'];
  return [...header, ...rows, '', count].join('\n');
}

export const SETTINGS_TABLE_FILE = path.join(PROJECT_ROOT, 'docs', 'operating.md');

export const OPERATING_SETTINGS_TABLE: GeneratedFile = {
  path: SETTINGS_TABLE_FILE,
  what: "docs/operating.md's settings table",
  render(current: string): string {
    const start = current.indexOf(SETTINGS_TABLE_START);
    const end = current.indexOf(SETTINGS_TABLE_END);
    if (start < 0 || end < start) {
      throw new Error(`docs/operating.md needs a ${SETTINGS_TABLE_START} … ${SETTINGS_TABLE_END} section`);
    }
    return `${current.slice(0, start + SETTINGS_TABLE_START.length)}\n${renderSettingsTable()}\n${current.slice(end)}`;
  },
};
