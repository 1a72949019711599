import { expect } from 'vitest';
import type { GqlResult } from './app.ts';

/** Asserts a GraphQL result failed with `code` (and `field`, `twilioCode` when given); returns the error. */
export function expectError<T>(r: GqlResult<T>, code: string, more: { field?: string; twilioCode?: number } = {}) {
  expect(r.errors, `expected ${code}, got data ${JSON.stringify(r.data)}`).toBeDefined();
  const err = r.errors![0]!;
  expect(err.extensions?.code, JSON.stringify(err)).toBe(code);
  if (more.field !== undefined) expect(err.extensions?.field).toBe(more.field);
  if (more.twilioCode !== undefined) expect(err.extensions?.twilioCode).toBe(more.twilioCode);
  return err;
}
