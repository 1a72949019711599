import { randomBytes } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify, type JWTHeaderParameters } from 'jose';
import { z } from 'zod';
import { actorOf, recordAudit } from './audit.ts';
import { decryptSeed, encryptSeed } from '../domain/seed-crypto.ts';
import { isSid } from '../domain/sid.ts';
import { identitySchema, parseInput } from '../domain/validation.ts';
import type { AccessPrincipal, Deps, Principal, Tenant } from './context.ts';
import { systemAad } from '../infra/keys.ts';
import { getService } from './services.ts';
import { tokenService } from './origins.ts';

// ------------------------------------------------------------------ limits and claims

/** Issue #10: short-lived, 60–3600 s; 600 s when not given. */
export const ACCESS_TOKEN_TTL = { min: 60, max: 3600, default: 600 } as const;

/** `iss` and `aud`: a token minted here for this API, and no other JWT, is accepted (RFC 8725 §3.8–3.9). */
export const ACCESS_TOKEN_ISSUER = 'verity';
export const ACCESS_TOKEN_AUDIENCE = 'verity:graphql';
/** Explicit typing, so no other kind of JWT can be confused with an access token (RFC 8725 §3.11, RFC 9068 §2.1). */
export const ACCESS_TOKEN_TYP = 'at+jwt';
/** The only algorithm signed or accepted: no `none`, no RS/HS confusion (RFC 8725 §3.1–3.2). */
const ALG = 'HS256';

const createInput = z.object({
  serviceSid: z.string(),
  identity: identitySchema,
  ttlSeconds: z
    .number()
    .int('must be an integer')
    .min(ACCESS_TOKEN_TTL.min, `must be ${ACCESS_TOKEN_TTL.min}–${ACCESS_TOKEN_TTL.max}`)
    .max(ACCESS_TOKEN_TTL.max, `must be ${ACCESS_TOKEN_TTL.min}–${ACCESS_TOKEN_TTL.max}`)
    .nullish(),
});

export interface AccessToken {
  /** The signed JWT: give it to the browser of `identity` only. Never logged or stored by Verity. */
  token: string;
  expiresAt: Date;
}

/**
 * Mints an access token for one identity of one of the caller's services (account credentials
 * only: the resolver passes tenantOf, which refuses operators and access tokens). The identity
 * need not exist yet: createTotpFactor creates the entity. (Audit hook: one line here.)
 */
export async function createAccessToken(
  t: Tenant,
  input: { serviceSid: string; identity: string; ttlSeconds?: number | null },
): Promise<AccessToken> {
  const data = parseInput(createInput, input);
  const service = await getService(t, data.serviceSid);
  const ttl = data.ttlSeconds ?? ACCESS_TOKEN_TTL.default;
  const iat = Math.floor(t.deps.now().getTime() / 1000);
  const exp = iat + ttl;
  const { kid, key } = await signingKey(t.deps);
  const token = await new SignJWT({ account: t.accountSid, service: service.sid })
    .setProtectedHeader({ alg: ALG, typ: ACCESS_TOKEN_TYP, kid })
    .setIssuer(ACCESS_TOKEN_ISSUER)
    .setAudience(ACCESS_TOKEN_AUDIENCE)
    .setSubject(data.identity)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(randomBytes(16).toString('hex'))
    .sign(key);
  const expiresAt = new Date(exp * 1000);
  // The token itself never reaches the trail: only who it is for and until when.
  await recordAudit(t.deps, {
    type: 'access_token.issued', accountSid: t.accountSid, actor: actorOf(t), serviceSid: service.sid,
    details: { identity: data.identity, ttlSeconds: ttl, expiresAt: expiresAt.toISOString() },
  });
  return { token, expiresAt };
}

/** Three base64url segments: what a compact JWS looks like (the operator token never needs to). */
export const looksLikeJwt = (value: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value);

const EXPIRED = 'Access token expired: ask your backend for a new one';
const INVALID = 'Invalid access token';

/**
 * Resolves a Bearer access token to its principal, or anonymous with a reason that reveals
 * nothing about any tenant. Signature, alg, typ, iss, aud and exp are checked by jose against
 * our clock; then the service must still exist in the token's account (a short per-process cache,
 * so the steady state costs no database round trip).
 */
export async function authenticateAccessToken(deps: Deps, token: string): Promise<Principal> {
  let payload;
  try {
    ({ payload } = await jwtVerify(token, (header: JWTHeaderParameters) => verificationKey(deps, header.kid), {
      algorithms: [ALG],
      typ: ACCESS_TOKEN_TYP,
      issuer: ACCESS_TOKEN_ISSUER,
      audience: ACCESS_TOKEN_AUDIENCE,
      requiredClaims: ['sub', 'iat', 'exp', 'jti'],
      currentDate: deps.now(),
    }));
  } catch (e) {
    // jose checks the signature before the claims: "expired" is only ever said of a genuine token.
    return { kind: 'anonymous', reason: e instanceof joseErrors.JWTExpired ? EXPIRED : INVALID };
  }
  const { sub, account, service, iat, exp } = payload;
  if (
    typeof account !== 'string' || !isSid('account', account) ||
    typeof service !== 'string' || !isSid('service', service) ||
    typeof sub !== 'string' || !identitySchema.safeParse(sub).success ||
    exp! - iat! > ACCESS_TOKEN_TTL.max
  ) {
    return { kind: 'anonymous', reason: INVALID };
  }
  const row = await tokenService(deps, service);
  if (!row || row.accountSid !== account) return { kind: 'anonymous', reason: INVALID };
  const principal: AccessPrincipal = {
    kind: 'access', accountSid: account, serviceSid: service, identity: sub, expiresAt: new Date(exp! * 1000),
    allowedOrigins: row.allowedOrigins,
  };
  return principal;
}

// ------------------------------------------------------------------ signing keys
// HMAC-SHA256 keys held only by Verity, stored in SystemKey as `access-token:<kid>`, encrypted
// under the seed keyring (so `keys:rotate` re-encrypts them like every other secret). Signing uses
// the newest; verification accepts any stored kid, so rotating never cuts off live tokens.
// Keys are cached per process: the steady state costs no database round trip. The cache is
// refreshed every KEY_REFRESH_MS (so a rotation made elsewhere is picked up) and, at most once per
// KEY_MISS_RELOAD_MS, when a token names a kid it does not know.

const KEY_PREFIX = 'access-token:';
/** RFC 7518 §3.2: an HS256 key of at least the hash size; 32 random bytes. */
const KEY_BYTES = 32;
export const KEY_REFRESH_MS = 5 * 60_000;
const KEY_MISS_RELOAD_MS = 1_000;

interface SigningKey {
  kid: string;
  /** Imported once per load: jose would otherwise import raw bytes on every verification. */
  key: CryptoKey;
  created: Date;
}
interface KeyCache {
  keys: Map<string, SigningKey>;
  newest?: SigningKey;
  loadedAt: number;
  loading?: Promise<void>;
}
/** What the key store needs: `npm run keys:rotate-access` builds just this. */
export type KeyDeps = Pick<Deps, 'prisma' | 'keyring' | 'now'>;
const keyCaches = new WeakMap<KeyDeps, KeyCache>();

function cacheOf(deps: KeyDeps): KeyCache {
  let c = keyCaches.get(deps);
  if (!c) keyCaches.set(deps, (c = { keys: new Map(), loadedAt: 0 }));
  return c;
}

/** Reads every access-token key (one load at a time per process). */
async function reload(deps: KeyDeps, fresh = false): Promise<void> {
  const c = cacheOf(deps);
  // `fresh`: a load that began before our own write must not count as having seen it.
  if (fresh && c.loading) await c.loading.catch(() => undefined);
  c.loading ??= (async () => {
    const rows = await deps.prisma.systemKey.findMany({ where: { name: { startsWith: KEY_PREFIX } } });
    const keys = new Map<string, SigningKey>();
    for (const r of rows) {
      const raw = decryptSeed(deps.keyring, r.keyId, r.ciphertext, systemAad(r.name));
      const key = await crypto.subtle.importKey('raw', new Uint8Array(raw), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
      raw.fill(0);
      keys.set(r.name.slice(KEY_PREFIX.length), { kid: r.name.slice(KEY_PREFIX.length), key, created: r.dateCreated });
    }
    c.keys = keys;
    c.newest = [...keys.values()].sort((a, b) => a.created.getTime() - b.created.getTime() || a.kid.localeCompare(b.kid)).at(-1);
    c.loadedAt = Date.now();
  })().finally(() => {
    c.loading = undefined;
  });
  return c.loading;
}

/** Creates a new signing key; it becomes the newest, so it signs from now on. */
async function addKey(deps: KeyDeps): Promise<string> {
  const kid = `at${deps.now().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(4).toString('hex')}`;
  const name = KEY_PREFIX + kid;
  const secret = new Uint8Array(randomBytes(KEY_BYTES));
  const { keyId, ciphertext } = encryptSeed(deps.keyring, secret, systemAad(name));
  secret.fill(0);
  await deps.prisma.systemKey.create({ data: { name, keyId, ciphertext: new Uint8Array(ciphertext) } });
  return kid;
}

async function signingKey(deps: KeyDeps): Promise<SigningKey> {
  const c = cacheOf(deps);
  if (!c.newest || Date.now() - c.loadedAt > KEY_REFRESH_MS) await reload(deps);
  if (!c.newest) {
    // First use anywhere: create one. Two instances racing both create one; both keys verify.
    await addKey(deps);
    await reload(deps, true);
  }
  return c.newest!;
}

async function verificationKey(deps: KeyDeps, kid: string | undefined): Promise<CryptoKey> {
  if (!kid) throw new Error('no kid');
  const c = cacheOf(deps);
  if (Date.now() - c.loadedAt > KEY_REFRESH_MS || (!c.keys.has(kid) && Date.now() - c.loadedAt > KEY_MISS_RELOAD_MS)) await reload(deps);
  const k = c.keys.get(kid);
  if (!k) throw new Error('unknown kid');
  return k.key;
}

/**
 * Rotation: a new signing key. Old keys keep verifying the tokens they signed (≤ 1 h) unless
 * `retireOld` — after a key leak — deletes them, which invalidates every outstanding token at once
 * (on other instances within KEY_REFRESH_MS at most; restart them to make it immediate).
 */
export async function rotateAccessTokenKey(deps: KeyDeps, opts: { retireOld?: boolean } = {}): Promise<{ kid: string; retired: number }> {
  const kid = await addKey(deps);
  let retired = 0;
  if (opts.retireOld) {
    const r = await deps.prisma.systemKey.deleteMany({ where: { name: { startsWith: KEY_PREFIX, not: KEY_PREFIX + kid } } });
    retired = r.count;
  }
  await reload(deps, true);
  return { kid, retired };
}
