import jsqr from 'jsqr';
import { describe, expect, it } from 'vitest';
import { qrCodeSvg } from './qr.ts';
import { buildKeyUri } from './totp.ts';

// jsqr is CommonJS with `exports.default`: under NodeNext the default import is module.exports, hence `.default`.
const jsQR = jsqr.default;

/**
 * Rasterises qrcode's SVG without a browser: it is one white background rect plus one stroked path of
 * `M x y+0.5 h n m dx dy …` runs (stroke width 1, in module units). Each `h` run paints n dark modules.
 */
function rasterise(svg: string, scale = 4): { data: Uint8ClampedArray; width: number; height: number } {
  const size = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)?.[1]);
  const d = /<path stroke="#000000" d="([^"]+)"/.exec(svg)?.[1];
  if (!size || !d) throw new Error('unexpected SVG shape');
  const dark = new Uint8Array(size * size);
  let x = 0;
  let y = 0;
  for (const [, cmd, args] of d.matchAll(/([MmHhVv])([^MmHhVv]*)/g)) {
    const n = (args ?? '').trim().split(/[\s,]+/).filter(Boolean).map(Number);
    if (cmd === 'M') [x, y] = [n[0]!, n[1]!];
    else if (cmd === 'm') [x, y] = [x + n[0]!, y + n[1]!];
    else if (cmd === 'h') {
      for (let i = 0; i < n[0]!; i++) dark[Math.floor(y) * size + x + i] = 1;
      x += n[0]!;
    } else throw new Error(`unsupported path command ${cmd}`);
  }
  const width = size * scale;
  const data = new Uint8ClampedArray(width * width * 4);
  for (let py = 0; py < width; py++) {
    for (let px = 0; px < width; px++) {
      const v = dark[Math.floor(py / scale) * size + Math.floor(px / scale)] ? 0 : 255;
      data.set([v, v, v, 255], (py * width + px) * 4);
    }
  }
  return { data, width, height: width };
}

describe('qrCodeSvg', () => {
  const twilio = buildKeyUri({
    issuer: 'test-issuer', accountName: 'John\u2019s Account Name', secretBase32: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ',
    alg: 'sha1', digits: 6, period: 30,
  });
  const long = buildKeyUri({
    issuer: 'Some Rather Long Issuer Name', accountName: 'a'.repeat(64),
    secretBase32: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA',
    alg: 'sha512', digits: 8, period: 60,
  });

  it.each([['Twilio example', twilio], ['64-byte secret, long names', long]])('%s decodes back to exactly the URI', async (_, uri) => {
    const svg = await qrCodeSvg(uri);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const { data, width, height } = rasterise(svg);
    const decoded = jsQR(data, width, height, { inversionAttempts: 'dontInvert' });
    expect(decoded?.data).toBe(uri);
  });
});
