// GET /docs in a real browser: Debian's Chromium, headless, driven by
// playwright-core (which brings no browser of its own). The page must list
// the contract's operations and the history, load nothing from anywhere but
// the service itself, and "try it out" on the statement must get a 200 from
// the running instance; with API keys on, a 401 until a key is given through
// the page's "Authorize" button, then a 200. The page sends a
// Content-Security-Policy, and all of the above happens under it with no
// violation reported.

import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_CONTENT_SECURITY_POLICY } from '../../src/instance/http/docs.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startInstance, type RunningInstance } from '../support/instance.js';
import { createKey } from '../../tools/keys/keys.js';

const CHROMIUM = '/usr/bin/chromium';
const UI_TIMEOUT_MS = 30_000;

let database: TestDatabase;
let instance: RunningInstance;
let withKeys: RunningInstance;
let apiKey: string;
let browser: Browser;

beforeAll(async () => {
  database = await createTestDatabase();
  const owner = new pg.Client({ connectionString: database.ownerUrl });
  await owner.connect();
  apiKey = await createKey(owner, { name: 'docs-page', clients: 'all', scope: 'read', expiresInS: undefined });
  await owner.end();
  [instance, withKeys] = await Promise.all([
    startInstance({ databaseUrl: database.url }),
    startInstance({ databaseUrl: database.url, name: 'keys', environment: { CREBITO_AUTH: 'keys' } }),
  ]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

afterAll(async () => {
  await browser?.close();
  await instance?.stop();
  await withKeys?.stop();
  await database?.close();
});

describe('the API documentation page', () => {
  it('lists the operations, loads only from the service, and "try it out" on the statement answers 200', async () => {
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    // Chromium reports each violation both as a console error and as a
    // securitypolicyviolation event; both are collected.
    const violations: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy/i.test(message.text()))
        violations.push(message.text());
    });
    await page.exposeFunction('reportViolation', (text: string) => violations.push(text));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        (window as unknown as { reportViolation(text: string): void }).reportViolation(
          `${event.violatedDirective} ${event.blockedURI}`,
        );
      });
    });
    const loaded = await page.goto(`${instance.baseUrl}/docs`);
    expect(loaded!.headers()['content-security-policy']).toBe(DOCS_CONTENT_SECURITY_POLICY);
    expect(DOCS_CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(DOCS_CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');

    const operations = page.locator('.opblock-summary');
    await operations.first().waitFor({ timeout: UI_TIMEOUT_MS });
    const listed = (await operations.allInnerTexts()).map((text) => text.replace(/\s+/g, ' ').trim());
    expect(listed.some((text) => text.startsWith('POST /clientes/{id}/transacoes'))).toBe(true);
    expect(listed.some((text) => text.startsWith('GET /clientes/{id}/extrato'))).toBe(true);
    expect(listed.some((text) => text.startsWith('GET /clientes/{id}/transacoes'))).toBe(true);

    const statement = page.locator('.opblock-get', {
      has: page.locator('.opblock-summary-path', { hasText: /^\/clientes\/\{id\}\/extrato$/ }),
    });
    await statement.locator('.opblock-summary').click();
    await statement.getByRole('button', { name: 'Try it out' }).click();
    await statement.locator('input[placeholder="id"]').fill('1');
    await statement.getByRole('button', { name: 'Execute' }).click();
    const status = statement.locator('.live-responses-table tbody .response-col_status').first();
    await status.waitFor({ timeout: UI_TIMEOUT_MS });
    expect((await status.innerText()).trim()).toBe('200');
    await expect
      .poll(() => statement.locator('.live-responses-table .microlight').first().innerText(), {
        timeout: UI_TIMEOUT_MS,
      })
      .toContain('"ultimas_transacoes"');

    expect(requested.length).toBeGreaterThan(2);
    for (const url of requested) expect(url.startsWith(`${instance.baseUrl}/`), url).toBe(true);
    expect(violations).toEqual([]);
    await page.close();
  });
});

/** Runs "try it out" on the statement of client 1 and returns the status the page shows. */
async function tryStatement(page: Page): Promise<string> {
  const statement = page.locator('.opblock-get', {
    has: page.locator('.opblock-summary-path', { hasText: /^\/clientes\/\{id\}\/extrato$/ }),
  });
  if (!(await statement.getByRole('button', { name: 'Execute' }).isVisible())) {
    await statement.locator('.opblock-summary').click();
    await statement.getByRole('button', { name: 'Try it out' }).click();
    await statement.locator('input[placeholder="id"]').fill('1');
  }
  await statement.getByRole('button', { name: 'Execute' }).click();
  const status = statement.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor({ timeout: UI_TIMEOUT_MS });
  return (await status.innerText()).trim();
}

describe('the API documentation page with API keys on', () => {
  it('answers 401 until a key is given through "Authorize", then 200', async () => {
    const page = await browser.newPage();
    await page.goto(`${withKeys.baseUrl}/docs`);
    await page.locator('.opblock-summary').first().waitFor({ timeout: UI_TIMEOUT_MS });
    expect(await tryStatement(page)).toBe('401');

    await page.locator('.scheme-container button.authorize').click();
    const dialog = page.locator('.modal-ux');
    await dialog.locator('input[type="text"]').fill(apiKey);
    await dialog.locator('button.authorize').click();
    await dialog.locator('button.btn-done').click();
    await expect.poll(() => tryStatement(page), { timeout: UI_TIMEOUT_MS }).toBe('200');
    await page.close();
  });
});
