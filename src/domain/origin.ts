import { z } from 'zod';

/** At most this many browser origins per service. */
export const MAX_ALLOWED_ORIGINS = 20;

/** Hosts a developer's own machine answers to: plain http is allowed for them only. */
const isLocalHost = (host: string) => host === 'localhost' || host.endsWith('.localhost') || host === '127.0.0.1' || host === '[::1]';

/**
 * A web origin exactly as browsers send it in `Origin` (RFC 6454 §6.1): scheme://host[:port], no
 * path, query, fragment or credentials; lowercase, default port dropped. https everywhere, plain
 * http only for localhost-style hosts (an http page elsewhere can be altered by the network, so
 * its token could be stolen). Returns the normalised origin, or why it is not one.
 */
export function parseOrigin(value: string): { ok: true; origin: string } | { ok: false; reason: string } {
  if (value === '*' || value.includes('*')) return { ok: false, reason: 'wildcards are not allowed: list each origin' };
  if (!/^https?:\/\/[^/?#@\s]+\/?$/i.test(value))
    return { ok: false, reason: 'must be scheme://host[:port] with no path, e.g. https://app.example.com' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, reason: 'is not a valid URL' };
  }
  if (url.protocol === 'http:' && !isLocalHost(url.hostname)) {
    return { ok: false, reason: 'must use https (plain http only for localhost)' };
  }
  return { ok: true, origin: url.origin.toLowerCase() };
}

/** `allowedOrigins` input: each entry normalised, duplicates dropped, at most MAX_ALLOWED_ORIGINS. */
export const allowedOriginsSchema = z
  .array(z.string().max(200, 'must be at most 200 characters'))
  .max(MAX_ALLOWED_ORIGINS, `at most ${MAX_ALLOWED_ORIGINS} origins`)
  .transform((list, ctx) => {
    const out: string[] = [];
    list.forEach((value, i) => {
      const r = parseOrigin(value.trim());
      if (!r.ok) ctx.addIssue({ code: 'custom', path: [i], message: r.reason });
      else if (!out.includes(r.origin)) out.push(r.origin);
    });
    return out;
  });
