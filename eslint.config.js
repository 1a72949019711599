// ESLint: rules that catch bugs, not style (formatting is Prettier's job, `npm run format`).
// Type-aware rules use the TypeScript project service, so tsconfig.json decides what is checked.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'dist/', 'coverage/', '.verity/', 'src/generated/', 'src/client/gql/', 'bench/profiles/'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: {
      // Prettier owns line breaks and lays chained calls out as `\n  [Symbol.asyncIterator]()`;
      // it never writes the ASI hazard this rule exists for (eslint-config-prettier turns it off too).
      'no-unexpected-multiline': 'off',
      // A promise nobody awaits loses its rejection (an unhandled rejection ends the process) and
      // its ordering: the bugs these find are real, not matters of taste.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // Rethrowing what a library rejected with keeps its meaning (rate-limiter-flexible rejects
      // with a RateLimiterRes); anything else thrown or rejected is an Error, so it has a stack.
      '@typescript-eslint/only-throw-error': [
        'error',
        { allow: [{ from: 'package', package: 'rate-limiter-flexible', name: 'RateLimiterRes' }] },
      ],
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // A cycle makes module initialisation order matter (a value read before it is assigned) and
      // says two layers are one: src/ keeps its layers acyclic.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // Every package the code imports is declared in package.json; the product (src/, workers/,
      // demo/) imports runtime dependencies only.
      'import-x/no-extraneous-dependencies': [
        'error',
        {
          devDependencies: [
            'test/**',
            'bench/**',
            'scripts/**',
            '**/*.test.ts',
            'codegen.ts',
            'vitest.config.ts',
            'prisma.config.ts',
            'eslint.config.js',
          ],
          includeTypes: false,
        },
      ],
      'import-x/no-self-import': 'error',
    },
  },
  {
    // Style, not bugs: left to the authors (and to Prettier).
    rules: { 'prefer-const': 'off' },
  },
  {
    // Tests and benchmarks read JSON from the wire; `any` there is a choice, not a hole in the product's types.
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The config itself is plain JavaScript outside tsconfig.json.
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
