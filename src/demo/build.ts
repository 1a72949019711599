import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** Source of the /demo page (HTML, CSS, TS entry). */
export const DEMO_SOURCE_DIR = join(root, 'demo');
/** Where `npm run build:demo` writes the page (gitignored; built on install, start and test). */
export const DEMO_OUT_DIR = join(root, 'dist', 'demo');

export const DEMO_FILES = ['index.html', 'demo.css', 'demo.js'] as const;
export const CONTENT_TYPES: Record<(typeof DEMO_FILES)[number], string> = {
  'index.html': 'text/html; charset=utf-8',
  'demo.css': 'text/css; charset=utf-8',
  'demo.js': 'text/javascript; charset=utf-8',
};

export interface DemoAsset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

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
