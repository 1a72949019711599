import { defineConfig } from 'prisma/config';

// Prisma 7: no url in the schema. A placeholder keeps `prisma generate` working without a database
// (env('DATABASE_URL') would throw when unset — STACK-NOTES §2).
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/placeholder' },
});
