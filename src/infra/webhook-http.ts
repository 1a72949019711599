// The webhook HTTP client: one attempt = one request, with the SSRF rules applied to the very
// addresses the socket connects to, a deadline for the whole attempt, a cap on the response read,
// and no redirects. node:http rather than fetch: fetch (undici) offers no hook between DNS and
// connect, and its `dispatcher` would tie us to undici's internals.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { ipLiteral, refusedRange } from '../domain/address-policy.ts';

/** A destination the SSRF policy refuses (not retried: the same name will most likely resolve the same way). */
export class WebhookAddressError extends Error {
  override readonly name = 'WebhookAddressError';
}

/** Why a URL can never be a webhook target (scheme, credentials), or null. */
export function urlProblem(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'is not an absolute URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (u.username || u.password) return 'must not carry credentials';
  if (!u.hostname) return 'has no host';
  return null;
}

function refuse(host: string, address: string): WebhookAddressError | null {
  const range = refusedRange(address);
  return range
    ? new WebhookAddressError(`${host} resolves to ${address} (${range}): private, loopback, link-local and metadata addresses are refused`)
    : null;
}

/** Every address `host` resolves to, refused if any of them is outside the public unicast space. */
async function resolveChecked(host: string): Promise<LookupAddress[]> {
  const addresses = await new Promise<LookupAddress[]>((resolve, reject) =>
    dnsLookup(host, { all: true, verbatim: true }, (err, list) => (err ? reject(err) : resolve(list))),
  );
  if (addresses.length === 0) throw new WebhookAddressError(`${host} does not resolve`);
  // Any refused address refuses the name: a round-robin of one public and one private address
  // would otherwise reach the private one on some attempts.
  for (const a of addresses) {
    const e = refuse(host, a.address);
    if (e) throw e;
  }
  return addresses;
}

/**
 * At creation and update: refuse a URL whose host is, or resolves to, a refused address (unless
 * `allowPrivate`). Delivery checks again, at connect time: DNS can change in between.
 */
export async function checkDestination(raw: string, allowPrivate: boolean): Promise<string | null> {
  const problem = urlProblem(raw);
  if (problem) return problem;
  if (allowPrivate) return null;
  const host = new URL(raw).hostname;
  const literal = ipLiteral(host);
  if (literal) return refuse(host, literal)?.message ?? null;
  try {
    await resolveChecked(host);
    return null;
  } catch (e) {
    if (e instanceof WebhookAddressError) return e.message;
    return `${host} could not be resolved (${(e as NodeJS.ErrnoException).code ?? 'DNS error'})`;
  }
}

/**
 * The `lookup` the socket uses. Checking the name first and connecting later would leave a
 * time-of-check/time-of-use gap (DNS rebinding: a short-TTL name answers a public address to the
 * check and 127.0.0.1 to the connect). Here the check runs inside the connect's own resolution,
 * on exactly the addresses handed to the socket, so there is no second resolution to subvert.
 */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const resolved = allowPrivate
      ? new Promise<LookupAddress[]>((resolve, reject) =>
          dnsLookup(hostname, { all: true, verbatim: true }, (err, list) => (err ? reject(err) : resolve(list))),
        )
      : resolveChecked(hostname);
    resolved.then(
      (list) => {
        if (options?.all) callback(null, list);
        else callback(null, list[0]!.address, list[0]!.family);
      },
      (err: unknown) => callback(err),
    );
  }) as unknown as LookupFunction;
}

export interface AttemptResult {
  ok: boolean;
  statusCode?: number;
  /** Why the attempt failed (never contains the signing key: only status, network and policy errors). */
  error?: string;
  /** Refused by the SSRF policy: retrying will not help. */
  refused?: boolean;
}

export interface SendOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  allowPrivate: boolean;
  /** Bytes of the response read at most; the rest is discarded with the connection. */
  maxResponseBytes?: number;
}

const USER_AGENT = 'Verity-Webhooks/1.0';

/** One POST. Never throws: every outcome is an AttemptResult. */
export async function sendWebhook(o: SendOptions): Promise<AttemptResult> {
  const problem = urlProblem(o.url);
  if (problem) return { ok: false, error: `webhook URL ${problem}`, refused: true };
  const url = new URL(o.url);
  // An IP literal never goes through `lookup` (node connects to it directly): check it here.
  const literal = ipLiteral(url.hostname);
  if (literal && !o.allowPrivate) {
    const e = refuse(url.hostname, literal);
    if (e) return { ok: false, error: e.message, refused: true };
  }
  const cap = o.maxResponseBytes ?? 64 * 1024;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const done = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = client.request(url, {
      method: 'POST',
      // A fresh connection per attempt: a pooled socket would skip the guarded lookup.
      agent: false,
      lookup: guardedLookup(o.allowPrivate),
      headers: { 'user-agent': USER_AGENT, ...o.headers, 'content-length': String(Buffer.byteLength(o.body)) },
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    req.on('error', (err) => {
      const refused = err instanceof WebhookAddressError;
      done({ ok: false, error: refused ? err.message : `request failed: ${err.message}`, refused });
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = () => {
        const text = Buffer.concat(chunks)
          .toString('utf8')
          .replace(/[^\x20-\x7e]+/g, ' ')
          .trim()
          .slice(0, 200);
        if (status >= 200 && status < 300) return done({ ok: true, statusCode: status });
        // Redirects are not followed: a receiver could otherwise bounce the request to an internal address.
        if (status >= 300 && status < 400) return done({ ok: false, statusCode: status, error: `HTTP ${status}: redirect not followed` });
        done({ ok: false, statusCode: status, error: `HTTP ${status}${text ? `: ${text}` : ''}` });
      };
      res.on('data', (chunk: Buffer) => {
        if (size < cap) chunks.push(chunk.subarray(0, cap - size));
        size += chunk.length;
        if (size > cap) {
          // Enough to judge the answer: stop reading instead of buffering whatever the receiver streams.
          res.destroy();
          finish();
        }
      });
      res.on('end', finish);
      res.on('error', (err) => done({ ok: false, statusCode: status, error: `response failed: ${err.message}` }));
      res.on('close', finish);
    });
    req.end(o.body);
  });
}
