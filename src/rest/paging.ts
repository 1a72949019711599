/**
 * Twilio list pages over the services' keyset pages (docs/twilio-verify-v2-totp.md §7).
 *
 * `PageSize` 1–1000 (default 50) and the cursor are checked by the services. `Page` is client
 * state that Twilio echoes. `PageToken` is ours and opaque: `PA<cursor>` = the rows after a
 * position, `PB<cursor>` = the rows before it (read in the opposite order, then reversed), so a
 * page can link both ways from keyset cursors. `meta.next_page_url`/`previous_page_url` are
 * absolute: twilio-node requests them verbatim.
 */
import { InvalidArgumentError } from '../domain/errors.ts';
import { LIMITS } from '../domain/validation.ts';
import { encodeCursor, type Page, type Position } from '../domain/paging.ts';
import type { Form } from './forms.ts';

export type Order = 'asc' | 'desc';

/** A service's list function, seen from here. */
export type Lister<T> = (args: { first?: number | null; after?: string | null; order: Order }) => Promise<Page<T>>;

interface Token {
  direction: 'after' | 'before';
  cursor: string;
}

const encodeToken = (t: Token) => (t.direction === 'after' ? 'PA' : 'PB') + t.cursor;

function decodeToken(value: string): Token {
  const direction = value.startsWith('PA') ? 'after' : value.startsWith('PB') ? 'before' : undefined;
  if (!direction || value.length <= 2) throw new InvalidArgumentError('PageToken', 'is not a token this API returned');
  return { direction, cursor: value.slice(2) };
}

export interface TwilioMeta {
  page: number;
  page_size: number;
  first_page_url: string;
  previous_page_url: string | null;
  url: string;
  next_page_url: string | null;
  key: string;
}

/**
 * Reads the paging parameters, asks `list` for the page and builds Twilio's envelope
 * `{[key]: items, meta}`. `filters` are the list's own parameters (Status, Order…), repeated in every URL.
 */
export async function twilioPage<T extends Position>(opts: {
  form: Form;
  key: string;
  listUrl: string;
  filters?: [string, string | undefined][];
  order?: Order;
  list: Lister<T>;
  toJson: (item: T) => unknown;
}): Promise<Record<string, unknown> & { meta: TwilioMeta }> {
  const { form } = opts;
  const requestedSize = form.int('PageSize');
  const page = form.int('Page') ?? 0;
  if (page < 0) throw new InvalidArgumentError('Page', 'must be 0 or more');
  const tokenParam = form.string('PageToken');
  const token = tokenParam === undefined || tokenParam === '' ? undefined : decodeToken(tokenParam);
  const order = opts.order ?? 'asc';

  let nodes: T[];
  let hasNext: boolean;
  let hasPrevious: boolean;
  if (token?.direction === 'before') {
    const reversed = await opts.list({ first: requestedSize, after: token.cursor, order: order === 'asc' ? 'desc' : 'asc' });
    nodes = [...reversed.nodes].reverse();
    hasPrevious = reversed.hasNextPage;
    hasNext = true; // the page this token was handed out on
  } else {
    const r = await opts.list({ first: requestedSize, after: token?.cursor, order });
    nodes = r.nodes;
    hasNext = r.hasNextPage;
    hasPrevious = token !== undefined;
  }
  const pageSize = requestedSize ?? LIMITS.pageSizeDefault;
  const filters = (opts.filters ?? []).filter((f): f is [string, string] => f[1] !== undefined);
  const urlWith = (p: number, t?: Token) => {
    const q = new URLSearchParams([...filters, ['PageSize', String(pageSize)], ['Page', String(p)]]);
    if (t) q.set('PageToken', encodeToken(t));
    return `${opts.listUrl}?${q.toString()}`;
  };
  const first = nodes[0];
  const last = nodes.at(-1);
  return {
    [opts.key]: nodes.map(opts.toJson),
    meta: {
      page,
      page_size: pageSize,
      first_page_url: urlWith(0),
      previous_page_url: hasPrevious && first ? urlWith(Math.max(page - 1, 0), { direction: 'before', cursor: encodeCursor(first) }) : null,
      url: urlWith(page, token),
      next_page_url: hasNext && last ? urlWith(page + 1, { direction: 'after', cursor: encodeCursor(last) }) : null,
      key: opts.key,
    },
  };
}
