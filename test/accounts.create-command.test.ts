import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { openDatabase } from '../src/db/client.ts';
import { basic, freshDatabase, startTestApp, TEST_KEYS } from './support/app.ts';
import { Viewer } from './support/documents.ts';
import { runNpm } from './support/process.ts';

// `npm run account:create -- --name NAME`, as an operator runs it: production has no first account,
// so this is how one is made. The credentials it prints must work against the API.
const url = process.env.DATABASE_URL;
const dataDir = mkdtempSync(join(tmpdir(), 'verity-account-create-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const create = (args: string[], env: Record<string, string>) =>
  runNpm(['run', '-s', 'account:create', '--', ...args], { LOG_LEVEL: 'warn', ...env });

function printed(output: string) {
  const sid = /Account SID: (AC[0-9a-f]{32})/.exec(output)?.[1];
  const token = /Auth token: +([0-9a-f]{64})/.exec(output)?.[1];
  expect(sid, output).toBeDefined();
  expect(token, output).toBeDefined();
  return { sid: sid!, token: token! };
}

describe('npm run account:create', () => {
  it.runIf(url)(
    'production (DATABASE_URL): prints a new account’s SID and token once; they authenticate',
    { timeout: 180_000 },
    async () => {
      const db = await freshDatabase();
      const p = create(['--name', 'Acme'], { DATABASE_URL: db.url!, VERITY_ENCRYPTION_KEYS: TEST_KEYS, REDIS_URL: '' });
      expect(await p.exited).toBe(0);
      const { sid, token } = printed(p.output());
      expect(p.output().match(new RegExp(token, 'g'))).toHaveLength(2); // the token line and the shell line: nowhere else
      const t = await startTestApp({ VERITY_ENCRYPTION_KEYS: TEST_KEYS }, { db });
      try {
        expect(await t.ok(Viewer, {}, basic(sid, token))).toMatchObject({ viewer: { sid, friendlyName: 'Acme' } });
      } finally {
        await t.close();
      }
    },
  );

  it.skipIf(!!url)(
    'embedded (VERITY_DATA_DIR): prints a new account’s SID and token once; they authenticate',
    { timeout: 180_000 },
    async () => {
      const p = create(['--name', 'Acme'], { VERITY_DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '' });
      expect(await p.exited).toBe(0);
      const { sid, token } = printed(p.output());
      const db = await openDatabase({ dataDir });
      const t = await startTestApp({}, { db });
      try {
        expect(await t.ok(Viewer, {}, basic(sid, token))).toMatchObject({ viewer: { sid, friendlyName: 'Acme' } });
      } finally {
        await t.close();
      }
    },
  );

  it(
    'without --name (or with an empty or unknown option) it says what is wrong, how to call it, and exits 2',
    { timeout: 180_000 },
    async () => {
      const db = url ? await freshDatabase() : undefined;
      onTestFinished(() => db?.close());
      const env: Record<string, string> = db
        ? { DATABASE_URL: db.url!, VERITY_ENCRYPTION_KEYS: TEST_KEYS, REDIS_URL: '' }
        : { VERITY_DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '' };
      for (const [args, why] of [
        [[], /--name is required/],
        [['--nmae', 'Acme'], /Unknown option '--nmae'/],
        [['--name', '  '], /friendlyName: must not be empty/],
      ] as const) {
        const p = create([...args], env);
        expect(await p.exited, args.join(' ')).toBe(2);
        expect(p.output()).toMatch(why);
        expect(p.output()).toContain('usage: npm run account:create -- --name "Acme"');
        expect(p.output()).not.toMatch(/Account SID/);
      }
    },
  );
});
