// The settings table of docs/operating.md, between its two markers: every
// setting of src/shared/settings.ts, in the order declared there. The rest
// of the file is prose and stays as written.

import path from 'node:path';
import { shownDefault, SETTINGS } from '../../src/shared/settings.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import type { GeneratedFile } from './generated-file.js';

export const SETTINGS_TABLE_START = '<!-- settings:start -->';
export const SETTINGS_TABLE_END = '<!-- settings:end -->';

export function renderSettingsTable(): string {
  const rows = Object.values(SETTINGS).map((setting) => `| \`${setting.env}\` | ${shownDefault(setting)} | ${setting.readers.join(', ')} | ${setting.meaning} |`);
  return ['| variable | default | read by | meaning |', '|---|---|---|---|', ...rows].join('\n');
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
