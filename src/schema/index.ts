// Builds the schema: only imports the per-resource files, which register their types (DESIGN.md).
import { lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from './builder.ts';
import './common.ts';
import './node.ts';
import './account.ts';
import './entity.ts';
import './service.ts';
import './factor.ts';
import './factor-import.ts';
import './challenge.ts';
import './webhook.ts';
import './audit.ts';
import './access-token.ts';
import './subscription.ts';
import './entity-lists.ts';
import './recovery-codes.ts';

export const schema = builder.toSchema();

/** The SDL committed as schema.graphql (sorted so the diff only shows real changes). */
export const printedSchema = () => printSchema(lexicographicSortSchema(schema)) + '\n';
