import QRCode from 'qrcode';

/** SVG QR code of a Key URI. Level M (15 % recovery) keeps the symbol small enough for phone cameras; 2-module quiet zone. */
export function qrCodeSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}
