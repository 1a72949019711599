// npm run build:demo — bundles the /demo page into dist/demo (runs on install, before start and tests).
import { buildDemo, DEMO_OUT_DIR } from '../src/demo/build.ts';

const started = Date.now();
const assets = await buildDemo({ write: true });
const size = (n: string) => `${n} ${(assets.get(n)!.body.byteLength / 1024).toFixed(1)} KiB`;
console.log(
  `demo page built into ${DEMO_OUT_DIR} in ${Date.now() - started} ms: ${['demo.js', 'demo.css', 'index.html'].map(size).join(', ')}`,
);
