import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpTestApp, type HttpTestApp } from './support/http-server.ts';
import type { Tenant } from './support/app.ts';
import { CreateService, GetChallenge } from './support/documents.ts';
import { oathCode } from './support/oath.ts';
import { decodeQrSvg } from './support/qr-decode.ts';
import { BROWSER_TEST_TIMEOUT, launchGuardedBrowser, SKIP_BROWSER, type GuardedBrowser } from './support/browser.ts';

const root = new URL('../', import.meta.url).pathname;
const doc = readFileSync(join(root, 'docs/browser-clients.md'), 'utf8');

/** The first ```js block after `marker` in docs/browser-clients.md, verbatim. */
function codeBlockAfter(marker: string): string {
  const at = doc.indexOf(marker);
  if (at < 0) throw new Error(`docs/browser-clients.md has no "${marker}"`);
  const block = /```js\n([\s\S]*?)```/.exec(doc.slice(at));
  if (!block) throw new Error(`no js block after "${marker}"`);
  return block[1]!;
}

function replaceOnce(code: string, from: string, to: string): string {
  if (!code.includes(from)) throw new Error(`docs/browser-clients.md code no longer contains ${from}`);
  return code.replace(from, to);
}

describe.skipIf(SKIP_BROWSER)(
  'docs/browser-clients.md "Browser flow": both halves run as printed',
  { timeout: BROWSER_TEST_TIMEOUT },
  () => {
    let t: HttpTestApp;
    let b: GuardedBrowser;
    let tenant: Tenant;
    let dir: string;
    beforeAll(async () => {
      [t, b, dir] = await Promise.all([
        startHttpTestApp({}, { realClock: true }),
        launchGuardedBrowser(),
        mkdtemp(join(tmpdir(), 'verity-readme-')),
      ]);
      tenant = await t.newAccount('README customer');
    });
    afterAll(async () => {
      await b?.close();
      await t?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
      for (const k of ['VERITY_ACCOUNT_SID', 'VERITY_AUTH_TOKEN', 'VERITY_SERVICE_SID']) delete process.env[k];
    });

    it('the backend mints a token; the browser enrols, signs in and gets APPROVED from the subscription', async () => {
      const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'README app' } }, tenant.auth)).createService.sid;

      // Backend half: the documented module, pointed at this server, run by Node.
      const backendFile = join(dir, 'backend.mjs');
      await writeFile(
        backendFile,
        replaceOnce(codeBlockAfter('**Backend half**'), "'https://verity.internal.example.com'", JSON.stringify(t.baseUrl)),
      );
      Object.assign(process.env, { VERITY_ACCOUNT_SID: tenant.sid, VERITY_AUTH_TOKEN: tenant.token, VERITY_SERVICE_SID: serviceSid });
      const backend = (await import(pathToFileURL(backendFile).href)) as {
        verityTokenFor(identity: string): Promise<{ token: string; serviceSid: string; identity: string }>;
      };
      const handed = await backend.verityTokenFor('readme-user-0001');
      expect(handed.serviceSid).toBe(serviceSid);

      // Browser half: the documented code bundled as a bundler would (graphql-sse from node_modules),
      // given what the backend handed over, on a page of Verity's own origin.
      const browserCode = replaceOnce(
        codeBlockAfter('**Browser half**'),
        "'https://verity.example.com/graphql'",
        JSON.stringify(`${t.baseUrl}/graphql`),
      );
      const bundle = await build({
        stdin: {
          contents: `const { token, serviceSid, identity } = ${JSON.stringify(handed)};\n${browserCode}`,
          resolveDir: root,
          loader: 'js',
        },
        bundle: true,
        format: 'esm',
        platform: 'browser',
        write: false,
        logLevel: 'silent',
      });
      const page = await b.context.newPage();
      await page.route(`${t.baseUrl}/readme.html`, (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<!doctype html><div id="qr"></div><script type="module">${bundle.outputFiles[0]!.text}</script>`,
        }),
      );

      // The user: reads the QR code Verity returned (decoded by jsQR), types codes from the secret.
      // Responses are read on their way to the page (a prompt blocks the page, so not afterwards);
      // the SSE stream is left alone.
      let secret: Promise<string> | undefined;
      let challengeSid: string | undefined;
      await page.route(`${t.baseUrl}/graphql`, async (route) => {
        if (route.request().headers().accept === 'text/event-stream') return route.fallback();
        const response = await route.fetch();
        const body = await response.text();
        const data = (JSON.parse(body) as { data?: Record<string, unknown> }).data ?? {};
        const binding = (data.createTotpFactor as { binding?: { qrCodeSvg: string } } | undefined)?.binding;
        if (binding) secret = Promise.resolve(new URL(decodeQrSvg(binding.qrCodeSvg)!).searchParams.get('secret')!);
        challengeSid ??= (data.createChallenge as { sid?: string } | undefined)?.sid;
        return route.fulfill({ response, body });
      });
      let enrolledAt = 0;
      page.on('dialog', async (dialog) => {
        const s = await secret!;
        if (!enrolledAt) {
          enrolledAt = Date.now() / 1000;
          return dialog.accept(oathCode(s, {}, enrolledAt));
        }
        // The next time step (see browser.demo.test.ts): a code is accepted once per step.
        return dialog.accept(oathCode(s, {}, Math.max(enrolledAt + 30, Date.now() / 1000)));
      });
      const logged: string[] = [];
      page.on('console', (m) => logged.push(m.text()));

      await page.goto(`${t.baseUrl}/readme.html`);
      await expect.poll(() => logged, { timeout: 60_000, interval: 100 }).toEqual(['VERIFIED', 'APPROVED']);
      expect(await page.locator('#qr svg').count()).toBe(1);

      // Verity agrees: the challenge the page opened is APPROVED.
      const { challenge } = await t.ok(GetChallenge, { sid: challengeSid! }, tenant.auth);
      expect(challenge?.status).toBe('APPROVED');
      expect(b.offsite).toEqual([]);
    });
  },
);
