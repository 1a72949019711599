import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './support/app.ts';
import { buildDemo } from '../src/demo/build.ts';
import { DEMO_CSP } from '../src/demo/routes.ts';

let t: TestApp;
beforeAll(async () => {
  await buildDemo({ write: true }); // the page as this checkout's sources make it
  t = await startTestApp();
});
afterAll(() => t.close());

const get = (path: string, init: RequestInit = {}) => t.app.fetch(`http://verity.test${path}`, init);

describe('/demo is served by Verity, self-contained', () => {
  it('the page, its script and its style each come with their type and a CSP of only this origin', async () => {
    for (const [path, type] of [
      ['/demo', 'text/html; charset=utf-8'],
      ['/demo/', 'text/html; charset=utf-8'],
      ['/demo/demo.js', 'text/javascript; charset=utf-8'],
      ['/demo/demo.css', 'text/css; charset=utf-8'],
    ] as const) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(res.headers.get('content-security-policy'), path).toBe(DEMO_CSP);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect((await res.arrayBuffer()).byteLength).toBe(Number(res.headers.get('content-length')));
    }
    expect(DEMO_CSP).toContain("default-src 'none'");
    expect(DEMO_CSP).toContain("connect-src 'self'");
    expect(DEMO_CSP).not.toMatch(/unsafe|https?:|\*/);
  });

  it('the HTML references only its own two assets; no external URL anywhere in the bundle', async () => {
    const html = await (await get('/demo')).text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.sort()).toEqual(['/demo/demo.css', '/demo/demo.js']);
    expect(html).not.toMatch(/<script>|<style>|\sstyle="|\son[a-z]+="/); // nothing inline for CSP to refuse
    const js = await (await get('/demo/demo.js')).text();
    // URLs in the bundle may only be XML namespaces, never something fetched.
    const urls = [...js.matchAll(/https?:\/\/[^\s"'`)]+/g)].map((m) => m[0]).filter((u) => !u.startsWith('http://www.w3.org/'));
    expect(urls).toEqual([]);
  });

  it('the script carries the codegen documents as printed GraphQL, and stays small', async () => {
    const js = await (await get('/demo/demo.js')).text();
    for (const op of ['DemoCreateFactor', 'DemoVerifyFactor', 'DemoCreateChallenge', 'DemoVerifyChallenge', 'DemoChallengeUpdated']) {
      expect(js).toContain(op);
    }
    expect(js).not.toContain('CreateWebhook'); // other documents of the project are not bundled
    expect(js.length).toBeLessThan(64 * 1024);
  });

  it('HEAD answers headers only; other methods 405; unknown files under /demo 404', async () => {
    const head = await get('/demo', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await get('/demo', { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await get('/demo/../package.json')).status).not.toBe(200);
    expect((await get('/demo/main.ts')).status).toBe(404);
    expect((await get('/demo/%2e%2e/package.json')).status).toBe(404);
    expect((await get('/demonstration')).status).not.toBe(200);
  });
});
