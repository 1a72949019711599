import { describe, expect, it } from 'vitest';
import { qrCodeSvg } from './qr.ts';
import { buildKeyUri } from './totp.ts';
import { decodeQrSvg } from '../../test/support/qr-decode.ts';

describe('qrCodeSvg', () => {
  const twilio = buildKeyUri({
    issuer: 'test-issuer',
    accountName: 'John\u2019s Account Name',
    secretBase32: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ',
    alg: 'sha1',
    digits: 6,
    period: 30,
  });
  const long = buildKeyUri({
    issuer: 'Some Rather Long Issuer Name',
    accountName: 'a'.repeat(64),
    secretBase32: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA',
    alg: 'sha512',
    digits: 8,
    period: 60,
  });

  it.each([
    ['Twilio example', twilio],
    ['64-byte secret, long names', long],
  ])('%s decodes back to exactly the URI', async (_, uri) => {
    const svg = await qrCodeSvg(uri);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(decodeQrSvg(svg)).toBe(uri);
  });
});
