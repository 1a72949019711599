import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeBase32 } from '../src/domain/totp.ts';
import { FileFormatError, formatOf, readRecords, splitLabel, type ImportRecord } from '../scripts/import-formats.ts';

// The import command's file formats, in-process (no database, no child process): which records a
// file yields, with which line numbers, and which lines are reported before the use case sees them.
// What the use case then does with an item is test/import.mutation.test.ts; the command's process
// (batches, report, exit status, resume) is test/import.command.test.ts.
const secret = (bytes = 20) => encodeBase32(new Uint8Array(randomBytes(bytes)));
const opts = { verified: false, identityFrom: 'label' as const };
const items = (records: ImportRecord[]) => records.map((r) => ('item' in r ? { line: r.line, ...r.item } : r));

describe('import file formats', () => {
  it('--format defaults from the file name: .csv → csv, .json → aegis, anything else → otpauth', () => {
    expect([formatOf('users.CSV'), formatOf('export.json'), formatOf('uris.txt'), formatOf('uris')]).toEqual([
      'csv',
      'aegis',
      'otpauth',
      'otpauth',
    ]);
  });

  it('otpauth: identity from the label, parameters into the config, comments and blank lines skipped, lines counted from 1', () => {
    const [s1, s2] = [secret(), secret(32)];
    const text = [
      '# exported from the old system',
      `otpauth://totp/Acme%20Corp:user-otp-0001?secret=${s1}&issuer=Acme%20Corp&algorithm=SHA256&digits=8&period=60`,
      '',
      `otpauth://totp/user-otp-0002?secret=${s2}`,
      'otpauth://hotp/user-otp-0003?secret=AAAA&counter=1',
      'not a uri',
      'otpauth://totp/user-otp-0004?issuer=Acme',
    ].join('\r\n');
    expect(items(readRecords(text, 'otpauth', { ...opts, verified: true }))).toEqual([
      {
        line: 2,
        identity: 'user-otp-0001',
        secret: s1,
        friendlyName: 'user-otp-0001',
        verified: true,
        config: { alg: 'sha256', codeLength: 8, timeStep: 60 },
      },
      { line: 4, identity: 'user-otp-0002', secret: s2, friendlyName: 'user-otp-0002', verified: true },
      { line: 5, error: expect.stringMatching(/otpauth:\/\/hotp\/ is not supported: Verity imports TOTP only/) },
      { line: 6, error: 'not a URI' },
      { line: 7, error: 'the URI has no secret parameter' },
    ]);
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
    // No issuer parameter: the label's prefix is the issuer.
    const prefixOnly = `otpauth://totp/tenant-prefix-01:alice?secret=${secret()}`;
    expect(readRecords(prefixOnly, 'otpauth', { ...opts, identityFrom: 'issuer' })[0]).toMatchObject({
      item: { identity: 'tenant-prefix-01', friendlyName: 'alice' },
    });
    expect(readRecords(`otpauth://totp/alice?secret=${secret()}`, 'otpauth', { ...opts, identityFrom: 'issuer' })[0]).toMatchObject({
      error: 'no issuer to take the identity from',
    });
  });

  it('aegis: TOTP entries with their config; each record’s line is the line its entry starts on; other types reported', () => {
    const [good, short] = [secret(), secret(10)];
    const text = JSON.stringify(
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
              info: { secret: good, algo: 'SHA1', digits: 6, period: 30 },
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
              info: { secret: short, algo: 'SHA512', digits: 8, period: 60 },
            },
            { type: 'totp', uuid: 'a4', issuer: 'Acme', info: { secret: secret() } },
          ],
        },
      },
      null,
      2,
    );
    const lineOf = (uuid: string) => text.split('\n').findIndex((l) => l.includes(`"${uuid}"`)) + 1;
    expect(items(readRecords(text, 'aegis', { ...opts, verified: true }))).toEqual([
      {
        line: lineOf('a1'),
        identity: 'user-aegis-0001',
        secret: good,
        friendlyName: 'user-aegis-0001',
        verified: true,
        config: { alg: 'sha1', codeLength: 6, timeStep: 30 },
      },
      { line: lineOf('a2'), error: 'type "hotp" is not supported: Verity imports TOTP only' },
      // An 80-bit seed is read: refusing it is the use case's rule (RFC 4226 §4), reported with its line by the command.
      {
        line: lineOf('a3'),
        identity: 'user-aegis-0003',
        secret: short,
        friendlyName: 'user-aegis-0003',
        verified: true,
        config: { alg: 'sha512', codeLength: 8, timeStep: 60 },
      },
      { line: lineOf('a4'), error: 'the entry has no name to take the identity from' },
    ]);
    expect(new Set([lineOf('a1'), lineOf('a2'), lineOf('a3'), lineOf('a4')]).size).toBe(4);
  });

  it('an encrypted Aegis export is refused with a clear message, never guessed at', () => {
    expect(() => readRecords(JSON.stringify({ header: { slots: [{}] }, db: 'base64-ciphertext' }), 'aegis', opts)).toThrow(FileFormatError);
    expect(() => readRecords(JSON.stringify({ header: {}, db: 'x' }), 'aegis', opts)).toThrow(
      /encrypted: export again from Aegis with encryption turned off/,
    );
    expect(() => readRecords('{"db": {}}', 'aegis', opts)).toThrow(/expected db.entries/);
    expect(() => readRecords('identity,secret', 'aegis', opts)).toThrow(/not a JSON file/);
  });

  it('csv: RFC 4180 quoting, optional columns, the file’s line numbers (header included, multi-line fields counted)', () => {
    const [s1, s2, s3] = [secret(), secret(), secret()];
    const text = [
      '\uFEFFIdentity, Secret ,friendly_name,verified,algorithm,digits,period',
      `user-csv-0001,${s1},"Device 1, ""work""",,SHA256,8,60`,
      '',
      `user-csv-0002,${s2},"two`,
      `lines",false,,,`,
      `user-csv-0003,${s3},Tablet,maybe,,,`,
      `user-csv-0004,,Phone`,
    ].join('\n');
    expect(items(readRecords(text, 'csv', { ...opts, verified: true }))).toEqual([
      {
        line: 2,
        identity: 'user-csv-0001',
        secret: s1,
        friendlyName: 'Device 1, "work"',
        verified: true,
        config: { alg: 'sha256', codeLength: 8, timeStep: 60 },
      },
      { line: 5, identity: 'user-csv-0002', secret: s2, friendlyName: 'two\nlines', verified: false },
      { line: 6, error: 'verified: must be true or false' },
      // An empty secret is read: the use case says what is wrong with it.
      { line: 7, identity: 'user-csv-0004', secret: '', friendlyName: 'Phone', verified: true },
    ]);
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
