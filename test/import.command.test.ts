import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/client.ts';
import { newSid } from '../src/domain/sid.ts';
import { encodeBase32 } from '../src/domain/totp.ts';
import { freshDatabase, freshDataDir, TEST_KEYS } from './support/app.ts';
import { runEntry } from './support/process.ts';

// `npm run import` (tsx scripts/import.ts) as a process, against the database the app uses:
// embedded (PGlite in VERITY_DATA_DIR) or production (DATABASE_URL). Two runs, started together:
// one runs to its end from a saved position, one is interrupted. What a file yields is
// test/import.formats.test.ts (in-process); what the use case does with an item is
// test/import.mutation.test.ts.
const url = process.env.DATABASE_URL;
const dir = mkdtempSync(join(tmpdir(), 'verity-import-'));
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup) await c();
  rmSync(dir, { recursive: true, force: true });
});

const secret = (bytes = 20) => encodeBase32(new Uint8Array(randomBytes(bytes)));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** A service to import into, and how the command reaches its database (PGlite is single-process: closed while it runs). */
interface Target {
  serviceSid: string;
  env: Record<string, string>;
  /** The database, reopened after the command exited. */
  open(): Promise<Database>;
}

async function newService(db: Database): Promise<string> {
  const account = await db.prisma.account.create({
    data: { sid: newSid('account'), friendlyName: 'Importer', authTokenHash: randomBytes(32).toString('hex') },
  });
  const service = await db.prisma.service.create({ data: { sid: newSid('service'), accountSid: account.sid, friendlyName: 'Imported' } });
  return service.sid;
}

let shared: Promise<Database & { url?: string }> | undefined;
async function target(): Promise<Target> {
  if (url) {
    // One clone for both runs (each its own service): PostgreSQL takes them at once.
    shared ??= freshDatabase().then((db) => (cleanup.push(() => db.close()), db));
    const db = await shared;
    return {
      serviceSid: await newService(db),
      env: { DATABASE_URL: db.url!, VERITY_ENCRYPTION_KEYS: TEST_KEYS, REDIS_URL: '' },
      open: async () => db,
    };
  }
  // A data directory per run, loaded from the migrated snapshot, so the two runs go in parallel.
  const dataDir = await freshDataDir();
  const setup = await openDatabase({ dataDir, migrate: false });
  const serviceSid = await newService(setup);
  await setup.close();
  let db: Database | undefined;
  cleanup.push(async () => {
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return {
    serviceSid,
    env: { VERITY_DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '' },
    open: async () => (db ??= await openDatabase({ dataDir, migrate: false })),
  };
}

const runImport = (args: string[], t: Target) =>
  runEntry('scripts/import.ts', { LOG_LEVEL: 'warn', ...t.env }, ['--service', t.serviceSid, ...args]);

/** What the command keeps in FILE.import-state (docs/importing.md "Resumable"). */
const stateOf = (path: string, service: string, recordsDone: number, imported: number, failed = 0) => {
  const st = statSync(path);
  return { service, format: 'csv', size: st.size, mtimeMs: st.mtimeMs, recordsDone, imported, failed };
};

describe('npm run import', () => {
  it(
    `${url ? 'production (DATABASE_URL)' : 'embedded (VERITY_DATA_DIR)'}: resumes from a saved position and reports failed lines (exit 1); an interrupt saves the position (exit 130)`,
    { timeout: 300_000 },
    async () => {
      const [resuming, interrupted] = await Promise.all([target(), target()]);

      // Run 1: a file whose first 5 records an earlier run imported (its state file says so).
      const short = secret(10);
      const rows = ['identity,secret,friendly_name,algorithm,digits,period'];
      for (let i = 0; i < 5; i++) rows.push(`user-done-${i},${secret()},Earlier`); // lines 2–6
      for (let i = 5; i < 10; i++) rows.push(`user-csv-000${i},${secret()},Device ${i},${i === 9 ? 'SHA256,8,60' : ',,'}`); // 7–11
      rows.push('user-csv-bad0,not-base32!,Broken'); // 12: refused by the use case
      rows.push(`user-csv-short,${short},Old phone`); // 13: an 80-bit seed
      rows.push(`user-csv-0010`); // 14: no secret, no name: reported before the use case
      rows.push(`user-csv-0011,${secret()},"Device 11, ""work"""`); // 15
      const csv = file('resume.csv', rows.join('\n') + '\n');
      writeFileSync(`${csv}.import-state`, JSON.stringify(stateOf(csv, resuming.serviceSid, 5, 5)));

      // Run 2: interrupted (Ctrl-C reaches the process as SIGINT) once its first batch is done.
      const big = file(
        'big.csv',
        ['identity,secret,friendly_name', ...Array.from({ length: 60 }, (_, i) => `user-big-${i},${secret()},D`)].join('\n'),
      );

      const done = runImport(['--file', csv, '--verified', '--batch', '3'], resuming);
      const stopped = runImport(['--file', big, '--batch', '5'], interrupted);
      await stopped.waitFor(/import: \d+\/60 records/, 120_000);
      stopped.child.kill('SIGINT');
      const [doneCode, stoppedCode] = await Promise.all([done.exited, stopped.exited]);

      expect(doneCode, done.output()).toBe(1);
      const out = done.output();
      expect(out).toContain(`resuming after 5 of 14 records`);
      expect(out).toContain(`${csv}:12: INVALID_ARGUMENT: Invalid parameter: secret: is not Base32`);
      expect(out).toContain(`${csv}:13: INVALID_ARGUMENT: Invalid parameter: secret: must decode to at least 16 bytes`);
      expect(out).toContain(`${csv}:14: INVALID_ARGUMENT: missing field(s): secret, friendly_name`);
      // In file order, whichever check refused a line.
      const reported = [...out.matchAll(/resume\.csv:(\d+):/g)].map((x) => Number(x[1]));
      expect(reported).toEqual([12, 13, 14]);
      expect(out).not.toContain(short);
      expect(out).toContain(`imported 11 of 14 records into ${resuming.serviceSid}; 3 failed`);
      expect(existsSync(`${csv}.import-state`)).toBe(false);

      const db = await resuming.open();
      const factors = await db.prisma.factor.findMany({ where: { serviceSid: resuming.serviceSid }, orderBy: { identity: 'asc' } });
      expect(factors.map((f) => f.identity)).toEqual([...[5, 6, 7, 8, 9].map((i) => `user-csv-000${i}`), 'user-csv-0011']);
      expect(factors.every((f) => f.status === 'verified')).toBe(true);
      expect(factors.find((f) => f.identity === 'user-csv-0009')).toMatchObject({ alg: 'sha256', codeLength: 8, timeStep: 60 });
      expect(factors.find((f) => f.identity === 'user-csv-0011')?.friendlyName).toBe('Device 11, "work"');
      expect(
        await db.prisma.auditEvent.count({ where: { serviceSid: resuming.serviceSid, type: 'factor.imported', actor: 'operator' } }),
      ).toBe(6);

      expect(stoppedCode, stopped.output()).toBe(130);
      const m = stopped.output().match(/interrupted after (\d+) of 60 records; run the same command again to resume/);
      expect(m, stopped.output()).not.toBeNull();
      const saved = JSON.parse(readFileSync(`${big}.import-state`, 'utf8')) as { recordsDone: number };
      // The position run 1 resumed from, in the same shape: whole batches, every one of them written.
      expect(saved).toEqual(stateOf(big, interrupted.serviceSid, Number(m![1]), Number(m![1])));
      expect(saved.recordsDone % 5).toBe(0);
      expect(saved.recordsDone).toBeGreaterThanOrEqual(5);
      expect(saved.recordsDone).toBeLessThan(60);
      const written = await (await interrupted.open()).prisma.factor.count({ where: { serviceSid: interrupted.serviceSid } });
      expect(written).toBe(saved.recordsDone);
    },
  );
});
