import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents from schema.graphql for the tests (and browser clients); generated on install.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['test/**/*.ts', 'src/client/**/*.ts', '!src/client/gql/**'],
  ignoreNoDocuments: true,
  importExtension: '.ts',
  generates: {
    'src/client/gql/': {
      preset: 'client',
      config: { useTypeImports: true, scalars: { DateTime: 'string', JSONObject: 'Record<string, unknown>' }, enumsAsTypes: true },
      presetConfig: { fragmentMasking: false },
    },
  },
};
export default config;
