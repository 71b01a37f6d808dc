// The README and docs/ quote settings with their default in parentheses, as
// "`CREBITO_REQUEST_TIMEOUT_MS` (1 s)". Each such figure is held here to the
// setting's declared default (src/shared/settings.ts), in the unit the
// setting's name ends with, so prose cannot keep a default the code dropped.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS, type IntegerSetting } from '../../src/shared/settings.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const QUOTED = /`([A-Z_]+)`\s+\(([0-9][0-9,.]*)(?: (ms|s|min|h))?\)/g;
const MS_PER_UNIT: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000 };

/** A quoted figure in the setting's own unit: milliseconds for *_MS, seconds for *_S, else as written. */
export function quotedValue(env: string, figure: string, unit: string | undefined): number {
  const number = Number(figure.replaceAll(',', ''));
  if (unit === undefined) return number;
  const settingUnitMs = env.endsWith('_MS') || env.endsWith('_MS_MAX') ? 1 : env.endsWith('_S') ? 1000 : Number.NaN;
  return (number * MS_PER_UNIT[unit]!) / settingUnitMs;
}

const integers = new Map(
  Object.values(SETTINGS)
    .filter((setting): setting is IntegerSetting => setting.kind === 'integer')
    .map((setting) => [setting.env, setting]),
);

/** README.md and every Markdown file of docs/, by their path from the root. */
function documents(): string[] {
  const docs = fs.readdirSync(path.join(PROJECT_ROOT, 'docs')).filter((name) => name.endsWith('.md'));
  return ['README.md', ...docs.map((name) => `docs/${name}`)];
}

describe('the defaults the docs quote', () => {
  const text = (file: string) => fs.readFileSync(path.join(PROJECT_ROOT, file), 'utf8');
  const quotes = documents().flatMap((file) =>
    [...text(file).matchAll(QUOTED)]
      .filter((match) => integers.has(match[1]!))
      .map((match) => [`${file}: ${match[0].replace(/\s+/g, ' ')}`, match[1]!, match[2]!, match[3]] as const),
  );

  it('finds the quotes it holds (the pattern still matches the docs)', () => {
    expect(quotes.length).toBeGreaterThanOrEqual(4);
  });

  it.each(quotes)('%s is the default', (_, env, figure, unit) => {
    expect(quotedValue(env, figure, unit)).toBe(integers.get(env)!.default);
  });

  it("reads figures in the setting's unit", () => {
    expect(quotedValue('CREBITO_REQUEST_TIMEOUT_MS', '1', 's')).toBe(1000);
    expect(quotedValue('CREBITO_IDEMPOTENCY_WAIT_MS_MAX', '250', 'ms')).toBe(250);
    expect(quotedValue('CREBITO_IDEMPOTENCY_RETENTION_S', '24', 'h')).toBe(86_400);
    expect(quotedValue('CREBITO_BREAKER_FAILURES_MAX', '3', undefined)).toBe(3);
  });
});
