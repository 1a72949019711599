// `npm run schema:print` writes schema.graphql; `npm run schema:check` fails when it is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { printedSchema } from '../src/schema/index.ts';

const file = new URL('../schema.graphql', import.meta.url);
const sdl = printedSchema();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // No schema.graphql yet: it is stale by definition.
  }
  if (current !== sdl) {
    console.error('schema.graphql is stale: run `npm run schema:print` and commit it.');
    process.exit(1);
  }
  console.log('schema.graphql is up to date');
} else {
  writeFileSync(file, sdl);
  console.log('wrote schema.graphql');
}
