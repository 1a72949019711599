import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpTestApp, type HttpTestApp } from './support/http-server.ts';
import type { Tenant } from './support/app.ts';
import { BROWSER_TEST_TIMEOUT, WAIT, launchGuardedBrowser, SKIP_BROWSER, type GuardedBrowser } from './support/browser.ts';

describe.skipIf(SKIP_BROWSER)('GraphiQL in Chromium, offline', { timeout: BROWSER_TEST_TIMEOUT }, () => {
  let t: HttpTestApp;
  let b: GuardedBrowser;
  let tenant: Tenant;
  beforeAll(async () => {
    [t, b] = await Promise.all([startHttpTestApp(), launchGuardedBrowser()]);
    tenant = await t.newAccount('GraphiQL user');
  });
  afterAll(async () => {
    await b?.close();
    await t?.close();
  });

  it('loads from local assets, takes an Authorization header and runs a query', async () => {
    const { page } = b;
    await page.goto(`${t.baseUrl}/graphql`);
    // Monaco's editors: the query editor and, once its tab is open, the headers editor.
    const queryEditor = page.locator('.graphiql-query-editor .monaco-editor').first();
    await queryEditor.waitFor({ timeout: 60_000 });

    await page.getByRole('button', { name: 'Headers' }).click();
    const headersEditor = page.locator('.graphiql-editor-tool .monaco-editor').last();
    await headersEditor.waitFor();
    await replaceEditorText(page, headersEditor, JSON.stringify({ Authorization: tenant.auth }));
    await replaceEditorText(page, queryEditor, '{ viewer { sid } }');

    await page.locator('.graphiql-execute-button').click();
    const result = page.locator('.graphiql-response');
    await expect.poll(() => result.innerText(), WAIT).toContain(tenant.sid);
    expect(b.offsite).toEqual([]);
  });

  it('control: the guard catches a request that leaves the machine', async () => {
    // TEST-NET-1 (RFC 5737): never routable; the guard aborts it before any packet is sent.
    const outcome = await b.page.evaluate(() => fetch('http://192.0.2.1/probe', { mode: 'no-cors' }).then(() => 'sent', () => 'failed'));
    expect(outcome).toBe('failed');
    expect(b.offsite).toEqual(['http://192.0.2.1/probe']);
    b.offsite.length = 0;
  });
});

/** Selects all of a Monaco editor's text and inserts `text` in one input event (no per-key auto-closing). */
async function replaceEditorText(page: GuardedBrowser['page'], editor: ReturnType<GuardedBrowser['page']['locator']>, text: string) {
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
  await expect.poll(() => editor.locator('.view-lines').innerText().then((s) => s.replace(/\s+/g, ' ').trim()), WAIT).toBe(text.replace(/\s+/g, ' ').trim());
}
