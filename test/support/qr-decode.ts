import jsqr from 'jsqr';

// jsqr is CommonJS with `exports.default`: under NodeNext the default import is module.exports, hence `.default`.
const jsQR = jsqr.default;

/**
 * Rasterises qrcode's SVG without a browser: it is one white background rect plus one stroked path of
 * `M x y+0.5 h n m dx dy …` runs (stroke width 1, in module units). Each `h` run paints n dark modules.
 */
export function rasterise(svg: string, scale = 4): { data: Uint8ClampedArray; width: number; height: number } {
  const size = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)?.[1]);
  const d = /<path stroke="#000000" d="([^"]+)"/.exec(svg)?.[1];
  if (!size || !d) throw new Error('unexpected SVG shape');
  const dark = new Uint8Array(size * size);
  let x = 0;
  let y = 0;
  for (const [, cmd, args] of d.matchAll(/([MmHhVv])([^MmHhVv]*)/g)) {
    const n = (args ?? '')
      .trim()
      .split(/[\s,]+/)
      .filter(Boolean)
      .map(Number);
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

/** Decodes qrcode's SVG markup back to its text with jsQR (a decoder independent of the encoder). */
export function decodeQrSvg(svg: string): string | undefined {
  const { data, width, height } = rasterise(svg);
  return jsQR(data, width, height, { inversionAttempts: 'dontInvert' })?.data;
}
