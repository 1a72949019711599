import { decodeCursor, pageSize, type Page, type Position } from '../domain/paging.ts';

type Dir = 'asc' | 'desc';

/** A Prisma model delegate, reduced to what keyset paging needs. */
interface Delegate<T> {
  findMany(args: { where: object; orderBy: object[]; take: number }): Promise<T[]>;
  count(args: { where: object }): Promise<number>;
}

/**
 * Keyset pagination over (dateCreated, sid): one query per page whatever its position, stable
 * under concurrent inserts, and the count only runs when a client asks for totalCount.
 */
export async function keysetPage<T extends Position>(
  delegate: Delegate<T>,
  where: object,
  args: { first?: number | null; after?: string | null; order?: Dir },
): Promise<Page<T>> {
  const take = pageSize(args.first);
  const dir = args.order ?? 'asc';
  const op = dir === 'asc' ? 'gt' : 'lt';
  const after = args.after ? decodeCursor(args.after) : undefined;
  const keyset = after
    ? {
        OR: [{ dateCreated: { [op]: after.dateCreated } }, { dateCreated: after.dateCreated, sid: { [op]: after.sid } }],
      }
    : {};
  const rows = await delegate.findMany({
    where: { AND: [where, keyset] },
    orderBy: [{ dateCreated: dir }, { sid: dir }],
    take: take + 1,
  });
  return {
    nodes: rows.slice(0, take),
    hasNextPage: rows.length > take,
    hasPreviousPage: after !== undefined,
    totalCount: () => delegate.count({ where }),
  };
}
