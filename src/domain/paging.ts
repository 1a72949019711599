import { InvalidArgumentError } from './errors.ts';
import { LIMITS } from './validation.ts';

/** Keyset position: rows are listed by (dateCreated, sid), a total order that survives inserts. */
export interface Position {
  dateCreated: Date;
  sid: string;
}

export function encodeCursor(p: Position): string {
  return Buffer.from(`${p.dateCreated.toISOString()}|${p.sid}`).toString('base64url');
}

export function decodeCursor(cursor: string, field = 'after'): Position {
  const [iso, sid, extra] = Buffer.from(cursor, 'base64url').toString().split('|');
  const dateCreated = new Date(iso ?? '');
  if (!sid || extra !== undefined || Number.isNaN(dateCreated.getTime()) || !/^[A-Z]{2}[0-9a-f]{32}$/.test(sid)) {
    throw new InvalidArgumentError(field, 'is not a cursor this API returned');
  }
  return { dateCreated, sid };
}

export function pageSize(first: number | null | undefined): number {
  if (first == null) return LIMITS.pageSizeDefault;
  if (!Number.isInteger(first) || first < 1 || first > LIMITS.pageSizeMax) {
    throw new InvalidArgumentError('first', `must be 1–${LIMITS.pageSizeMax}`);
  }
  return first;
}

export interface Page<T> {
  nodes: T[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  totalCount: () => Promise<number>;
}
