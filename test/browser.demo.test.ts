import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import jsqr from 'jsqr';
import { PNG } from 'pngjs';
import { startHttpTestApp, type HttpTestApp } from './support/http-server.ts';
import type { Tenant } from './support/app.ts';
import { CreateAccessToken, CreateService, ListChallenges, ListFactors } from './support/documents.ts';
import { oathCode } from './support/oath.ts';
import { BROWSER_TEST_TIMEOUT, WAIT, launchGuardedBrowser, SKIP_BROWSER, type GuardedBrowser } from './support/browser.ts';
import { buildDemo } from '../src/demo/build.ts';

// jsqr is CommonJS with `exports.default` (see support/qr-decode.ts).
const jsQR = jsqr.default;

describe.skipIf(SKIP_BROWSER)('/demo in Chromium: enrol from the QR code, then sign in', { timeout: BROWSER_TEST_TIMEOUT }, () => {
  let t: HttpTestApp;
  let b: GuardedBrowser;
  let tenant: Tenant;
  let serviceSid: string;
  beforeAll(async () => {
    await buildDemo({ write: true }); // serve the page this checkout's sources make
    // The real clock: the browser's codes come from wall time, as an authenticator app's do.
    [t, b] = await Promise.all([startHttpTestApp({}, { realClock: true }), launchGuardedBrowser()]);
    tenant = await t.newAccount('Demo customer');
    serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Demo app' } }, tenant.auth)).createService.sid;
  });
  afterAll(async () => {
    await b?.close();
    await t?.close();
  });

  it('enrols by scanning the QR code, signs in, and APPROVED arrives through the subscription', async () => {
    const { page } = b;
    const identity = 'demo-user-0001';
    // What the customer's backend does (account credentials), then hands the token to the browser.
    const { token } = (await t.ok(CreateAccessToken, { input: { serviceSid, identity } }, tenant.auth)).createAccessToken;
    const sse: string[] = [];
    page.on('response', (r) => {
      if ((r.headers()['content-type'] ?? '').startsWith('text/event-stream')) sse.push(r.url());
    });

    await page.goto(`${t.baseUrl}/demo#token=${encodeURIComponent(token)}`);
    await page.locator('html[data-ready="true"]').waitFor();
    // The token left the address bar (and history) as soon as the page read it; its service and
    // identity were filled in from it.
    expect(page.url()).toBe(`${t.baseUrl}/demo`);
    expect(await page.getByTestId('token').inputValue()).toBe(token);
    expect(await page.getByTestId('service-sid').inputValue()).toBe(serviceSid);
    expect(await page.getByTestId('identity').inputValue()).toBe(identity);

    await page.getByTestId('friendly-name').fill('Test phone');
    await page.getByTestId('create-factor').click();
    const qr = page.getByTestId('qr').locator('svg');
    await qr.waitFor();

    // Scan it: a screenshot of what the user sees, decoded by jsQR.
    const png = PNG.sync.read(await page.getByTestId('qr').screenshot());
    const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    expect(decoded, 'the QR code on screen decodes').not.toBeNull();
    const uri = new URL(decoded!.data);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('issuer')).toBe('Demo app');
    const secret = uri.searchParams.get('secret')!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(await page.getByTestId('secret').textContent()).toBe(secret);

    // Enrol with the current code, computed by oathtool (independent of Verity) from the scanned secret.
    const enrolledAt = Date.now() / 1000;
    await page.getByTestId('factor-code').fill(oathCode(secret, {}, enrolledAt));
    await page.getByTestId('verify-factor').click();
    await expect.poll(() => page.getByTestId('factor-status').getAttribute('data-status'), WAIT).toBe('VERIFIED');
    await expect.poll(() => page.getByTestId('qr').innerHTML(), WAIT).toBe(''); // the seed is off the screen

    await page.getByTestId('start-challenge').click();
    await page.getByTestId('verify-challenge-form').waitFor({ state: 'visible' });
    expect(await page.getByTestId('challenge-status').getAttribute('data-status')).toBe('PENDING');
    // The enrolment consumed its time step (RFC 6238 §5.2: a code is accepted once), so sign in
    // with the next step's code (or the current one, if the clock got there first): inside the
    // factor's skew of 1 step now, and still inside it if a step boundary passes before Verity
    // checks it — no waiting for the clock, and a slow machine cannot make it flaky.
    await page.getByTestId('challenge-code').fill(oathCode(secret, {}, Math.max(enrolledAt + 30, Date.now() / 1000)));
    await page.getByTestId('verify-challenge').click();
    // Only the subscription handler writes this element (demo/main.ts).
    await expect.poll(() => page.getByTestId('challenge-status').getAttribute('data-status'), WAIT).toBe('APPROVED');
    expect(sse).toEqual([`${t.baseUrl}/graphql`]);

    // Verity agrees.
    const { entity } = await t.ok(ListFactors, { serviceSid, identity }, tenant.auth);
    expect(entity?.factors.edges.map((e) => [e.node.friendlyName, e.node.status])).toEqual([['Test phone', 'VERIFIED']]);
    const challenges = await t.ok(ListChallenges, { serviceSid, identity }, tenant.auth);
    expect(challenges.entity?.challenges.edges.map((e) => e.node.status)).toEqual(['APPROVED']);
    expect(await page.getByTestId('error').isHidden()).toBe(true);
    expect(b.pageErrors).toEqual([]); // no CSP refusal, no script error
    expect(b.offsite).toEqual([]);
  });

  it('shows the error code and message when the token is not accepted', async () => {
    const page = await b.context.newPage();
    await page.goto(`${t.baseUrl}/demo#token=not-a-token&serviceSid=${serviceSid}&identity=demo-user-0002`);
    await page.locator('html[data-ready="true"]').waitFor();
    await page.getByTestId('create-factor').click();
    const error = page.getByTestId('error');
    await error.waitFor({ state: 'visible' });
    expect(await error.getAttribute('data-code')).toBe('UNAUTHENTICATED');
    expect(await error.textContent()).toMatch(/^UNAUTHENTICATED: /);
    expect(await page.getByTestId('qr').innerHTML()).toBe('');
    expect(b.offsite).toEqual([]);
  });
});
