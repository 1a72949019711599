import { randomBytes } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify, type JWTHeaderParameters } from 'jose';
import { decryptSeed, encryptSeed } from '../domain/seed-crypto.ts';
import { isSid } from '../domain/sid.ts';
import { identitySchema } from '../domain/validation.ts';
import type { AccessKeyCache, AccessPrincipal, Deps, Principal } from '../deps.ts';
import { systemAad } from '../infra/keys.ts';
import { tokenService } from './origins.ts';

// ------------------------------------------------------------------ limits and claims

/** Short-lived, 60–3600 s; 600 s when not given. */
export const ACCESS_TOKEN_TTL = { min: 60, max: 3600, default: 600 } as const;

/** `iss` and `aud`: a token minted here for this API, and no other JWT, is accepted (RFC 8725 §3.8–3.9). */
export const ACCESS_TOKEN_ISSUER = 'verity';
export const ACCESS_TOKEN_AUDIENCE = 'verity:graphql';
/** Explicit typing, so no other kind of JWT can be confused with an access token (RFC 8725 §3.11, RFC 9068 §2.1). */
export const ACCESS_TOKEN_TYP = 'at+jwt';
/** The only algorithm signed or accepted: no `none`, no RS/HS confusion (RFC 8725 §3.1–3.2). */
const ALG = 'HS256';

/** Signs an access token for `identity` of `serviceSid` in `accountSid`, valid `ttl` seconds from now. */
export async function signAccessToken(
  deps: KeyDeps,
  claims: { accountSid: string; serviceSid: string; identity: string; ttl: number },
): Promise<{ token: string; expiresAt: Date }> {
  const iat = Math.floor(deps.now().getTime() / 1000);
  const exp = iat + claims.ttl;
  const { kid, key } = await signingKey(deps);
  const token = await new SignJWT({ account: claims.accountSid, service: claims.serviceSid })
    .setProtectedHeader({ alg: ALG, typ: ACCESS_TOKEN_TYP, kid })
    .setIssuer(ACCESS_TOKEN_ISSUER)
    .setAudience(ACCESS_TOKEN_AUDIENCE)
    .setSubject(claims.identity)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(randomBytes(16).toString('hex'))
    .sign(key);
  return { token, expiresAt: new Date(exp * 1000) };
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
export async function verifyAccessToken(deps: Deps, token: string): Promise<Principal> {
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
    typeof account !== 'string' ||
    !isSid('account', account) ||
    typeof service !== 'string' ||
    !isSid('service', service) ||
    typeof sub !== 'string' ||
    !identitySchema.safeParse(sub).success ||
    exp! - iat! > ACCESS_TOKEN_TTL.max
  ) {
    return { kind: 'anonymous', reason: INVALID };
  }
  const row = await tokenService(deps, service);
  if (!row || row.accountSid !== account) return { kind: 'anonymous', reason: INVALID };
  const principal: AccessPrincipal = {
    kind: 'access',
    accountSid: account,
    serviceSid: service,
    identity: sub,
    expiresAt: new Date(exp! * 1000),
    allowedOrigins: row.allowedOrigins,
  };
  return principal;
}

// ------------------------------------------------------------------ signing keys
// HMAC-SHA256 keys held only by Verity, stored in SystemKey as `access-token:<kid>`, encrypted
// under the seed keyring (so `keys:rotate` re-encrypts them like every other secret). Signing uses
// the newest; verification accepts any stored kid, so rotating never cuts off live tokens.
// Keys are cached per process (deps.authCaches.accessKeys): the steady state costs no database
// round trip. The cache is refreshed every KEY_REFRESH_MS (so a rotation made elsewhere is picked
// up) and, at most once per KEY_MISS_RELOAD_MS, when a token names a kid it does not know.

const KEY_PREFIX = 'access-token:';
/** RFC 7518 §3.2: an HS256 key of at least the hash size; 32 random bytes. */
const KEY_BYTES = 32;
export const KEY_REFRESH_MS = 5 * 60_000;
const KEY_MISS_RELOAD_MS = 1_000;

/** What the key store needs: `npm run keys:rotate-access` builds just this. */
export type KeyDeps = Pick<Deps, 'prisma' | 'keyring' | 'now'> & { authCaches: { accessKeys: AccessKeyCache } };

/** Reads every access-token key (one load at a time per process). */
async function reload(deps: KeyDeps, fresh = false): Promise<void> {
  const c = deps.authCaches.accessKeys;
  // `fresh`: a load that began before our own write must not count as having seen it.
  if (fresh && c.loading) await c.loading.catch(() => undefined);
  c.loading ??= (async () => {
    const rows = await deps.prisma.systemKey.findMany({ where: { name: { startsWith: KEY_PREFIX } } });
    const keys: AccessKeyCache['keys'] = new Map();
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

async function signingKey(deps: KeyDeps) {
  const c = deps.authCaches.accessKeys;
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
  const c = deps.authCaches.accessKeys;
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
