import { describe, expect, it } from 'vitest';
import { MAX_ALLOWED_ORIGINS, allowedOriginsSchema, parseOrigin } from './origin.ts';

describe('parseOrigin', () => {
  it.each([
    ['https://app.example.com', 'https://app.example.com'],
    ['HTTPS://App.Example.COM', 'https://app.example.com'],
    ['https://app.example.com/', 'https://app.example.com'],
    ['https://app.example.com:443', 'https://app.example.com'],
    ['https://app.example.com:8443', 'https://app.example.com:8443'],
    ['http://localhost:5173', 'http://localhost:5173'],
    ['http://127.0.0.1:3000', 'http://127.0.0.1:3000'],
    ['http://[::1]:3000', 'http://[::1]:3000'],
    ['http://demo.localhost', 'http://demo.localhost'],
  ])('%s → %s', (input, origin) => {
    expect(parseOrigin(input)).toEqual({ ok: true, origin });
  });

  it.each([
    ['*', /wildcard/],
    ['https://*.example.com', /wildcard/],
    ['https://app.example.com/path', /no path/],
    ['https://app.example.com?x=1', /no path/],
    ['https://app.example.com#f', /no path/],
    ['https://user@app.example.com', /no path/],
    ['app.example.com', /scheme/],
    ['ftp://app.example.com', /scheme/],
    ['null', /scheme/],
    ['http://app.example.com', /https/],
    ['https://exa mple.com', /scheme/],
  ])('%s is refused', (input, why) => {
    const r = parseOrigin(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(why);
  });

  it('a list is normalised and deduplicated, names the bad entry, and is capped', () => {
    expect(allowedOriginsSchema.parse(['https://A.example.com/', 'https://a.example.com', 'http://localhost:3000'])).toEqual([
      'https://a.example.com',
      'http://localhost:3000',
    ]);
    const bad = allowedOriginsSchema.safeParse(['https://ok.example.com', 'https://bad.example.com/x']);
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual([1]);
    const many = Array.from({ length: MAX_ALLOWED_ORIGINS + 1 }, (_, i) => `https://a${i}.example.com`);
    expect(allowedOriginsSchema.safeParse(many).success).toBe(false);
  });
});
