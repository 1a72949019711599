// `npm run build`: the entry points compiled to plain JavaScript in dist/ (esbuild, one ESM file
// per entry), so `npm start` and `npm run worker` run under bare `node` instead of tsx. tsx
// transpiles every module at load and keeps a loader thread with its own V8 isolate alive for the
// process's life: measured ≈ 60 MB more RSS and a slower start (bench/RESULTS.md).
// Dependencies stay external (resolved from node_modules at run time, exactly as under tsx): only
// our own sources, including the generated Prisma client, are bundled. Type checking stays with
// `npm run typecheck`; esbuild only strips types.
// Code splitting keeps each entry's `await import(...)` a real import: the entry point starts
// OpenTelemetry (when asked) before the chunk that imports pg, ioredis and node:http is loaded.
// Without it esbuild would hoist every external import to the top of one file.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

export const ENTRIES = ['src/main.ts', 'workers/main.ts'] as const;

const root = fileURLToPath(new URL('../', import.meta.url));

/** Compiles `entries` (paths relative to the project root) to `dist/<same path>.js`. */
export async function buildEntries(entries: readonly string[] = ENTRIES): Promise<void> {
  await build({
    absWorkingDir: root,
    entryPoints: [...entries],
    outdir: 'dist',
    outbase: '.',
    bundle: true,
    splitting: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
  });
}

/** dist path of an entry: `src/main.ts` → `dist/src/main.js`. */
export const distPath = (entry: string) => `dist/${entry.replace(/\.ts$/, '.js')}`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildEntries(process.argv.length > 2 ? process.argv.slice(2) : ENTRIES);
}
