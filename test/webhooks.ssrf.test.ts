// SSRF rules (OWASP SSRF Prevention): webhook URLs are http(s) only, and by default a URL whose
// host is — or resolves to — loopback, private, link-local (metadata) or other non-public space
// is refused, both when the webhook is created and again when each delivery connects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateService, CreateTotpFactor, CreateWebhook, UpdateWebhook, WebhookDeliveries } from './support/documents.ts';
import { Receiver } from './support/receiver.ts';
import { waitUntil } from './support/live.ts';

let t: TestApp;
let a: Tenant;
let serviceSid: string;
let rx: Receiver;

beforeAll(async () => {
  t = await startTestApp({ VERITY_WEBHOOK_MAX_ATTEMPTS: '2', VERITY_WEBHOOK_BACKOFF_MS: '10', VERITY_WEBHOOK_TIMEOUT_MS: '1000' });
  await t.runtime.startWorkers();
  a = await t.newAccount('SSRF tenant');
  serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'SSRF' } }, a.auth)).createService.sid;
  rx = await Receiver.start();
});
afterAll(async () => {
  await rx?.close();
  await t?.close();
});

const create = (webhookUrl: string) =>
  t.gql(CreateWebhook, { input: { serviceSid, friendlyName: 'Hook', webhookUrl, eventTypes: ['*'] } }, a.auth);

describe('at creation (VERITY_WEBHOOK_ALLOW_PRIVATE unset)', () => {
  it.each([
    ['loopback IPv4', 'http://127.0.0.1:8080/hook'],
    ['loopback, short form', 'http://127.1/hook'],
    ['a name resolving to loopback', 'http://localhost:8080/hook'],
    ['loopback IPv6', 'http://[::1]/hook'],
    ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/hook'],
    ['RFC 1918 10/8', 'http://10.1.2.3/hook'],
    ['RFC 1918 172.16/12', 'https://172.20.0.1/hook'],
    ['RFC 1918 192.168/16', 'http://192.168.1.10/hook'],
    ['cloud metadata (link-local)', 'http://169.254.169.254/latest/meta-data/'],
    ['AWS IPv6 metadata (unique local)', 'http://[fd00:ec2::254]/'],
    ['IPv6 link-local', 'http://[fe80::1]/'],
    ['carrier-grade NAT', 'http://100.64.0.1/'],
    ['unspecified', 'http://0.0.0.0:4000/'],
    ['IPv4-compatible IPv6 loopback', 'http://[::7f00:1]/'],
    ['IPv4-compatible IPv6 cloud metadata', 'http://[::a9fe:a9fe]/latest/meta-data/'],
    ['IPv4-compatible IPv6 RFC 1918', 'http://[::a00:1]/'],
    ['IPv4-compatible IPv6, dotted', 'http://[::127.0.0.1]/'],
    ['NAT64 well-known prefix of loopback', 'http://[64:ff9b::7f00:1]/'],
    ['NAT64 local-use prefix', 'http://[64:ff9b:1::a00:1]/'],
    ['6to4 of loopback', 'http://[2002:7f00:1::1]/'],
    ['Teredo', 'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/'],
  ])('%s is refused: %s', async (_what, url) => {
    const r = await create(url);
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_ARGUMENT', twilioCode: 60200 });
    expect(r.errors?.[0]?.message).toMatch(/webhookUrl/);
  });

  it.each([
    ['ftp', 'ftp://example.com/hook'],
    ['file', 'file:///etc/passwd'],
    ['javascript', 'javascript:alert(1)'],
    ['relative', '/hook'],
    ['credentials in the URL', 'https://user:pass@93.184.215.14/hook'],
  ])('a non-http(s) or unusable URL is refused (%s)', async (_what, url) => {
    const r = await create(url);
    expect(r.errors?.[0]?.extensions?.code).toBe('INVALID_ARGUMENT');
  });

  it('a public address is accepted; updating it to a private one is refused', async () => {
    const r = await create('https://93.184.215.14/verity-hook');
    expect(r.errors).toBeUndefined();
    const sid = r.data!.createWebhook.webhook.sid;
    const u = await t.gql(UpdateWebhook, { input: { sid, webhookUrl: 'http://192.168.0.1/' } }, a.auth);
    expect(u.errors?.[0]?.extensions?.code).toBe('INVALID_ARGUMENT');
  });
});

describe('at delivery', () => {
  it.each([
    ['an IP literal', () => rx.url(), /resolves to (127\.0\.0\.1|::1) \(loopback\)/],
    [
      'a name resolved at connect time (the check is in the socket’s own lookup: no rebinding window)',
      () => `http://localhost:${rx.port}/hook`,
      /resolves to (127\.0\.0\.1|::1) \(loopback\)/,
    ],
    [
      'an IPv4-compatible IPv6 literal of loopback',
      () => `http://[::7f00:1]:${rx.port}/hook`,
      /resolves to ::7f00:1 \(ipv4Compatible, embeds 127\.0\.0\.1\)/,
    ],
    ['a NAT64 literal of loopback', () => `http://[64:ff9b::7f00:1]:${rx.port}/hook`, /resolves to 64:ff9b::7f00:1 \(loopback\)/],
  ])('a webhook whose address became refused is not called (%s): DEAD at once, with the reason', async (_what, url, reason) => {
    // Created while private addresses were allowed, delivered after they no longer are.
    t.deps.config.webhookAllowPrivate = true;
    const created = await create(url());
    t.deps.config.webhookAllowPrivate = false;
    expect(created.errors).toBeUndefined();
    const webhookSid = created.data!.createWebhook.webhook.sid;
    await t.ok(CreateTotpFactor, { input: { serviceSid, identity: `ssrf-user-${Date.now()}`, friendlyName: 'Phone' } }, a.auth);
    let node: { status: string; attempts: number; lastError?: string | null } | undefined;
    await waitUntil(
      async () => {
        node = (await t.ok(WebhookDeliveries, { webhookSid }, a.auth)).webhookDeliveries.edges[0]?.node;
        return node?.status === 'DEAD';
      },
      10_000,
      'DEAD recorded',
    );
    expect(node).toMatchObject({ status: 'DEAD', attempts: 1 });
    expect(node!.lastError).toMatch(reason);
    expect(rx.requests).toHaveLength(0);
    // Disabled, so later tests' events do not queue more deliveries to it.
    await t.ok(UpdateWebhook, { input: { sid: webhookSid, status: 'DISABLED' } }, a.auth);
  });
});
