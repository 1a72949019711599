import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { CONTENT_TYPES, DEMO_OUT_DIR, DEMO_SOURCE_DIR, type DemoAsset } from './assets.ts';

export { CONTENT_TYPES, DEMO_FILES, DEMO_OUT_DIR, DEMO_SOURCE_DIR, type DemoAsset } from './assets.ts';

/** The page's files by name (index.html, demo.css, demo.js), built in memory; `write` also saves them to DEMO_OUT_DIR. */
export async function buildDemo(opts: { write?: boolean } = {}): Promise<Map<string, DemoAsset>> {
  const result = await build({
    entryPoints: [join(DEMO_SOURCE_DIR, 'main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    legalComments: 'none',
    write: false,
    outfile: 'demo.js',
    logLevel: 'silent',
  });
  const assets = new Map<string, DemoAsset>([
    ['index.html', { body: new Uint8Array(await readFile(join(DEMO_SOURCE_DIR, 'index.html'))), contentType: CONTENT_TYPES['index.html'] }],
    ['demo.css', { body: new Uint8Array(await readFile(join(DEMO_SOURCE_DIR, 'demo.css'))), contentType: CONTENT_TYPES['demo.css'] }],
    ['demo.js', { body: new Uint8Array(result.outputFiles[0]!.contents), contentType: CONTENT_TYPES['demo.js'] }],
  ]);
  if (opts.write) {
    await mkdir(DEMO_OUT_DIR, { recursive: true });
    // Write then rename: a server reading dist/demo meanwhile (another process, or another test file
    // building the same page) sees the old file or the new one, never a truncated one.
    for (const [name, a] of assets) {
      const tmp = join(DEMO_OUT_DIR, `.${name}.${process.pid}.${randomUUID()}.tmp`);
      await writeFile(tmp, a.body);
      await rename(tmp, join(DEMO_OUT_DIR, name));
    }
  }
  return assets;
}
