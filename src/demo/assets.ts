import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the /demo page lives, without its builder: the API serves the built files and loads
 * esbuild (src/demo/build.ts) only when they are missing. The project root is the nearest folder
 * with a package.json: this module runs from src/demo/ under tsx and from a dist/ chunk when compiled.
 */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const root = projectRoot();
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
