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
    // Every CSP refusal on the page is recorded, whatever directive refused it.
    await b.context.addInitScript(() => {
      const w = window as unknown as { cspViolations: string[] };
      w.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
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
    // All of it under the page's Content-Security-Policy: nothing GraphiQL needs was refused.
    expect(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
    expect(b.pageErrors.filter((e) => /Content Security Policy/i.test(e))).toEqual([]);
  });

  it('GraphiQL framed by another site (clickjacking) is refused: CSP frame-ancestors and X-Frame-Options', async () => {
    const res = await fetch(`${t.baseUrl}/graphql`, { headers: { accept: 'text/html' } });
    await res.text();
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/); // its own inline script only: no 'unsafe-inline'
    expect(csp).toContain("default-src 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');

    // Another origin (localhost vs 127.0.0.1) embeds it: Chromium must not render it in the frame.
    const attacker = t.baseUrl.replace('127.0.0.1', 'localhost') + '/attacker.html';
    const page = await b.context.newPage();
    try {
      await page.route(attacker, (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<iframe id="victim" src="${t.baseUrl}/graphql" width="800" height="600"></iframe>`,
        }),
      );
      await page.goto(attacker);
      // Chromium replaces a frame it refuses to render with its error page.
      const victim = () =>
        page
          .frames()
          .find((f) => f !== page.mainFrame())
          ?.url();
      await expect.poll(victim, WAIT).toBe('chrome-error://chromewebdata/');
    } finally {
      await page.close();
    }
  });

  it('control: the guard catches a request that leaves the machine', async () => {
    // TEST-NET-1 (RFC 5737): never routable; the guard aborts it before any packet is sent.
    // From a blank page: GraphiQL's own policy (connect-src 'self') would refuse it before the guard sees it.
    await b.page.goto('about:blank');
    const outcome = await b.page.evaluate(() =>
      fetch('http://192.0.2.1/probe', { mode: 'no-cors' }).then(
        () => 'sent',
        () => 'failed',
      ),
    );
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
  await expect
    .poll(
      () =>
        editor
          .locator('.view-lines')
          .innerText()
          .then((s) => s.replace(/\s+/g, ' ').trim()),
      WAIT,
    )
    .toBe(text.replace(/\s+/g, ' ').trim());
}
