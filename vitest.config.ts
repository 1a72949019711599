import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One graphql instance: Node (and so graphql-ws, tsx in production) loads graphql's CJS main,
    // while Vite would pick its "module" ESM build for our code — two GraphQLError classes.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/support/global-setup.ts'],
    // Two cores: two files at a time keeps PGlite start-up and PostgreSQL from starving each other.
    maxWorkers: 2,
  },
});
