import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (CI installs it in .ci/run); playwright-core brings no browser of its own. */
export const CHROMIUM_PATH = process.env.VERITY_CHROMIUM ?? '/usr/bin/chromium';
/** Browser tests run unless this is set explicitly: a missing Chromium fails them, it does not skip them. */
export const SKIP_BROWSER = process.env.VERITY_SKIP_BROWSER === '1';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether a URL stays on this machine (blob:/data: URLs are made inside the page: GraphiQL's workers). */
export function isLocal(url: string): boolean {
  const u = new URL(url);
  if (u.protocol === 'blob:' || u.protocol === 'data:' || u.protocol === 'about:') return true;
  return LOCAL_HOSTS.has(u.hostname);
}

/** Per-test timeout for browser tests (Chromium on a shared 2-core machine). */
export const BROWSER_TEST_TIMEOUT = 180_000;
/** For expect.poll on page state (its default is 1 s). */
export const WAIT = { timeout: 60_000, interval: 100 };

export interface GuardedBrowser {
  context: BrowserContext;
  page: Page;
  /** Every request that tried to leave the machine (aborted); tests assert it stays empty. */
  offsite: string[];
  /** Console errors and uncaught exceptions of the page (CSP refusals show up here). */
  pageErrors: string[];
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile and a network guard: every request whose host is not
 * loopback is aborted and recorded, as is any WebSocket to elsewhere, so a test fails on any
 * request that leaves the machine (self-hosted installations are often offline).
 */
export async function launchGuardedBrowser(): Promise<GuardedBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: install it (apt-get install chromium; .ci/run does) ` +
        'or set VERITY_CHROMIUM to its path. VERITY_SKIP_BROWSER=1 skips the browser tests explicitly.',
    );
  }
  const profile = await mkdtemp(join(tmpdir(), 'verity-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--disable-domain-reliability',
    ],
    serviceWorkers: 'block',
    viewport: { width: 1280, height: 900 },
  });
  const offsite: string[] = [];
  const pageErrors: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    offsite.push(url);
    return route.abort('blockedbyclient');
  });
  context.on('requestfailed', (req) => {
    if (!isLocal(req.url()) && !offsite.includes(req.url())) offsite.push(req.url());
  });
  const watch = (page: Page) => {
    page.on('websocket', (ws) => {
      if (!isLocal(ws.url())) offsite.push(ws.url());
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  // Generous: the box is shared, and GraphiQL's page is a 9 MB inline bundle.
  context.setDefaultTimeout(90_000);
  context.setDefaultNavigationTimeout(90_000);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    offsite,
    pageErrors,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
