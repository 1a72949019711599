import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/client.ts';
import { newSid } from '../src/domain/sid.ts';
import { encodeBase32 } from '../src/domain/totp.ts';
import { FileFormatError, readRecords, splitLabel } from '../scripts/import-formats.ts';
import { freshDatabase, TEST_KEYS } from './support/app.ts';
import { runNpm } from './support/process.ts';

// `npm run import`, as an operator runs it, against the database the app uses: embedded (PGlite in
// VERITY_DATA_DIR) or production (DATABASE_URL). Process runs are few and shared by the checks.
const url = process.env.DATABASE_URL;
const root = new URL('../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'verity-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const secret = (bytes = 20) => encodeBase32(new Uint8Array(randomBytes(bytes)));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

async function newService(db: Database): Promise<string> {
  const account = await db.prisma.account.create({
    data: { sid: newSid('account'), friendlyName: 'Importer', authTokenHash: randomBytes(32).toString('hex') },
  });
  const service = await db.prisma.service.create({ data: { sid: newSid('service'), accountSid: account.sid, friendlyName: 'Imported' } });
  return service.sid;
}

/** One mode's database: set up in-process, closed while the command runs (PGlite is single-process), reopened to check. */
async function modeDatabase(): Promise<{
  env: Record<string, string>;
  open: () => Promise<Database>;
  release: () => Promise<void>;
  close: () => Promise<void>;
}> {
  if (url) {
    const db = await freshDatabase();
    return {
      env: { DATABASE_URL: db.url!, VERITY_ENCRYPTION_KEYS: TEST_KEYS, REDIS_URL: '' },
      open: async () => db,
      release: async () => {},
      close: () => db.close(),
    };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'verity-import-data-'));
  let db: Database | undefined;
  return {
    env: { VERITY_DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '' },
    open: async () => (db = await openDatabase({ dataDir })),
    release: async () => {
      await db?.close();
      db = undefined;
    },
    close: async () => {
      await db?.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const runImport = (args: string[], env: Record<string, string>) =>
  runNpm(['run', '-s', 'import', '--', ...args], { LOG_LEVEL: 'warn', ...env });

describe('npm run import', () => {
  it(
    `${url ? 'production (DATABASE_URL)' : 'embedded (VERITY_DATA_DIR)'}: otpauth, aegis and csv files; a failing line is reported by number and exits 1; an interrupted run resumes`,
    { timeout: 600_000 },
    async () => {
      const mode = await modeDatabase();
      try {
        const serviceSid = await newService(await mode.open());
        await mode.release();

        // otpauth: the identity is the label's account part, parameters become the config.
        const [s1, s2] = [secret(), secret(32)];
        const uris = file(
          'uris.txt',
          [
            '# exported from the old system',
            `otpauth://totp/Acme%20Corp:user-otp-0001?secret=${s1}&issuer=Acme%20Corp&algorithm=SHA256&digits=8&period=60`,
            '',
            `otpauth://totp/user-otp-0002?secret=${s2}`,
          ].join('\n'),
        );
        const otp = runImport(['--service', serviceSid, '--file', uris, '--verified'], mode.env);
        expect(await otp.exited, otp.output()).toBe(0);
        expect(otp.output()).toContain(`imported 2 of 2 records into ${serviceSid}; 0 failed`);

        // aegis: one good entry, an HOTP entry and an 80-bit seed → reported by line, exit 1.
        const short = secret(10);
        const aegis = file(
          'aegis.json',
          JSON.stringify(
            {
              version: 1,
              header: { slots: null, params: null },
              db: {
                version: 3,
                entries: [
                  {
                    type: 'totp',
                    uuid: 'a1',
                    name: 'user-aegis-0001',
                    issuer: 'Acme',
                    info: { secret: secret(), algo: 'SHA1', digits: 6, period: 30 },
                  },
                  {
                    type: 'hotp',
                    uuid: 'a2',
                    name: 'user-aegis-0002',
                    issuer: 'Acme',
                    info: { secret: secret(), algo: 'SHA1', digits: 6, counter: 0 },
                  },
                  {
                    type: 'totp',
                    uuid: 'a3',
                    name: 'user-aegis-0003',
                    issuer: 'Acme',
                    info: { secret: short, algo: 'SHA1', digits: 6, period: 30 },
                  },
                ],
              },
            },
            null,
            2,
          ),
        );
        const lineOf = (uuid: string) =>
          readFileSync(aegis, 'utf8')
            .split('\n')
            .findIndex((l) => l.includes(`"${uuid}"`)) + 1;
        const ae = runImport(['--service', serviceSid, '--file', aegis], mode.env);
        expect(await ae.exited, ae.output()).toBe(1);
        expect(ae.output()).toContain(`${aegis}:${lineOf('a2')}: INVALID_ARGUMENT: type "hotp" is not supported`);
        expect(ae.output()).toContain(
          `${aegis}:${lineOf('a3')}: INVALID_ARGUMENT: Invalid parameter: secret: must decode to at least 16 bytes`,
        );
        expect(ae.output()).not.toContain(short);
        expect(ae.output()).toContain('imported 1 of 3 records');

        // csv, interrupted (Ctrl-C reaches the process as SIGINT) after its first batch, then resumed.
        const lines = ['identity,secret,friendly_name'];
        for (let i = 0; i < 60; i++) lines.push(`user-csv-${String(i).padStart(4, '0')},${secret()},"Device ${i}, ""work"""`);
        lines.push('user-csv-bad,not-base32!,Broken'); // line 62
        const csv = file('users.csv', lines.join('\n') + '\n');
        const first = spawn(
          process.execPath,
          ['--import', 'tsx', 'scripts/import.ts', '--service', serviceSid, '--file', csv, '--batch', '5'],
          {
            cwd: root,
            env: { ...process.env, LOG_LEVEL: 'warn', ...mode.env },
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let err = '';
        let signalled = false;
        first.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          if (signalled || !err.includes(' records')) return;
          signalled = true;
          first.kill('SIGINT');
        });
        const [code] = (await once(first, 'exit')) as [number | null];
        expect(code, err).toBe(130);
        expect(err).toMatch(/interrupted after \d+ of 61 records; run the same command again to resume/);
        const state = JSON.parse(readFileSync(`${csv}.import-state`, 'utf8')) as { recordsDone: number };
        expect(state.recordsDone).toBeGreaterThanOrEqual(5);
        expect(state.recordsDone).toBeLessThan(61);

        const resumed = runImport(['--service', serviceSid, '--file', csv, '--batch', '5'], mode.env);
        expect(await resumed.exited, resumed.output()).toBe(1);
        expect(resumed.output()).toContain(`resuming after ${state.recordsDone} of 61 records`);
        expect(resumed.output()).toContain(`${csv}:62: INVALID_ARGUMENT: Invalid parameter: secret: is not Base32`);
        expect(resumed.output()).toContain('61 records');
        expect(existsSync(`${csv}.import-state`)).toBe(false);

        const db = await mode.open();
        const factors = await db.prisma.factor.findMany({ where: { serviceSid }, orderBy: { identity: 'asc' } });
        expect(factors).toHaveLength(2 + 1 + 60);
        const by = (identity: string) => factors.find((f) => f.identity === identity)!;
        expect(by('user-otp-0001')).toMatchObject({
          friendlyName: 'user-otp-0001',
          status: 'verified',
          alg: 'sha256',
          codeLength: 8,
          timeStep: 60,
        });
        expect(by('user-otp-0002')).toMatchObject({ status: 'verified', alg: 'sha1', codeLength: 6, timeStep: 30 });
        expect(by('user-aegis-0001')).toMatchObject({ status: 'unverified' });
        expect(by('user-csv-0007')).toMatchObject({ friendlyName: 'Device 7, "work"', status: 'unverified' });
        const audited = await db.prisma.auditEvent.count({ where: { serviceSid, type: 'factor.imported', actor: 'operator' } });
        expect(audited).toBe(63);
      } finally {
        await mode.close();
      }
    },
  );
});

describe('import file formats', () => {
  const opts = { verified: false, identityFrom: 'label' as const };

  it('an encrypted Aegis export is refused with a clear message, never guessed at', () => {
    expect(() => readRecords(JSON.stringify({ header: { slots: [{}] }, db: 'base64-ciphertext' }), 'aegis', opts)).toThrow(FileFormatError);
    expect(() => readRecords(JSON.stringify({ header: {}, db: 'x' }), 'aegis', opts)).toThrow(
      /encrypted: export again from Aegis with encryption turned off/,
    );
  });

  it('otpauth labels: the identity is the account part after "Issuer:", or the issuer with --identity-from issuer', () => {
    expect(splitLabel('Acme Corp: user-0001')).toEqual({ issuer: 'Acme Corp', account: 'user-0001' });
    expect(splitLabel('user-0001')).toEqual({ account: 'user-0001' });
    const line = `otpauth://totp/Acme:user-label-01?secret=${secret()}&issuer=tenant-issuer-01`;
    expect(readRecords(line, 'otpauth', opts)[0]).toMatchObject({
      line: 1,
      item: { identity: 'user-label-01', friendlyName: 'user-label-01' },
    });
    expect(readRecords(line, 'otpauth', { ...opts, identityFrom: 'issuer' })[0]).toMatchObject({ item: { identity: 'tenant-issuer-01' } });
    expect(readRecords('otpauth://hotp/x?secret=AAAA', 'otpauth', opts)[0]).toMatchObject({ error: expect.stringMatching(/TOTP only/) });
  });

  it('a CSV without the required header is refused as a whole; a malformed record is reported by line without quoting it', () => {
    expect(() => readRecords('user,secret\nuser-0001,AAAA\n', 'csv', opts)).toThrow(/must name the columns identity,secret,friendly_name/);
    const s = secret();
    const records = readRecords(`identity,secret,friendly_name\nuser-0001,${s},"ok"\nuser-0002,"${s}"x,bad\n`, 'csv', opts);
    expect(records[0]).toMatchObject({ line: 2, item: { identity: 'user-0001' } });
    expect(records[1]).toMatchObject({ line: 3, error: expect.stringMatching(/cannot read this CSV record/) });
    expect(JSON.stringify(records[1])).not.toContain(s);
  });
});
