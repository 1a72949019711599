import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listeningPort, runEntry } from './support/process.ts';

// The README's start command, as a newcomer runs it: embedded PGlite in a data dir, first-run
// credentials printed once, data kept across a graceful restart.
const dataDir = mkdtempSync(join(tmpdir(), 'verity-embedded-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function gql(port: number, auth: string, query: string) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: auth },
    body: JSON.stringify({ query }),
  });
  return (await res.json()) as { data?: any; errors?: unknown[] };
}

describe.skipIf(!!process.env.DATABASE_URL)('embedded mode (npm start)', () => {
  it('prints first-run credentials once; data survives SIGTERM and restart', { timeout: 180_000 }, async () => {
    // PORT=0: each process binds a port of its own choosing and logs it (no port picked beforehand
    // that another process could take first).
    const env = { VERITY_DATA_DIR: dataDir, PORT: '0', DATABASE_URL: '', REDIS_URL: '' };
    const first = runEntry('src/main.ts', env);
    const [, sid] = await first.waitFor(/Account SID: (AC[0-9a-f]{32})/);
    const [, token] = await first.waitFor(/Auth token: +([0-9a-f]{64})/);
    const port = await listeningPort(first);
    const auth = `Basic ${Buffer.from(`${sid}:${token}`).toString('base64')}`;
    const created = await gql(port, auth, 'mutation { createService(input: { friendlyName: "Survives" }) { sid } }');
    const serviceSid = created.data.createService.sid as string;
    // The generated seed key is private to the owner: whoever reads it can decrypt every seed.
    expect(statSync(join(dataDir, 'encryption-keys')).mode & 0o777).toBe(0o600);
    expect(await first.stop()).toBe(0);
    expect(first.output()).toMatch(/shutting down/);

    const second = runEntry('src/main.ts', env);
    const port2 = await listeningPort(second);
    expect(second.output()).not.toMatch(/Auth token/); // printed once only
    const read = await gql(port2, auth, `{ viewer { sid } service(sid: "${serviceSid}") { friendlyName } }`);
    expect(read.data).toEqual({ viewer: { sid }, service: { friendlyName: 'Survives' } });
    expect(await second.stop('SIGINT')).toBe(0);
  });
});

// Each case starts Verity under tsx (12 s at load 15): room beyond vitest's 60 s default.
describe('configuration', () => {
  it('an invalid environment prints every problem at once and exits non-zero', { timeout: 120_000 }, async () => {
    const p = runEntry('src/main.ts', { PORT: 'abc', REDIS_URL: 'http://nope', VERITY_ADMIN_TOKEN: 'short', DATABASE_URL: 'mysql://x' });
    const code = await p.exited;
    expect(code).not.toBe(0);
    const out = p.output();
    for (const v of ['PORT', 'REDIS_URL', 'VERITY_ADMIN_TOKEN', 'DATABASE_URL']) expect(out).toContain(v);
    expect(out).not.toContain('short'); // never echoes a secret's value
  });

  it(
    'production (DATABASE_URL) without VERITY_ENCRYPTION_KEYS refuses to start, saying how to make a key',
    { timeout: 120_000 },
    async () => {
      const p = runEntry('src/main.ts', { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/postgres', VERITY_ENCRYPTION_KEYS: '' });
      expect(await p.exited).toBe(2);
      expect(p.output()).toMatch(/VERITY_ENCRYPTION_KEYS is required/);
      expect(p.output()).toMatch(/randomBytes\(32\)/);
    },
  );
});
