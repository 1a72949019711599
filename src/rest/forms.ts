/**
 * Twilio request parameters: `application/x-www-form-urlencoded` bodies (query strings for GET)
 * with PascalCase keys, dots for nesting (`Config.CodeLength`, `Totp.Issuer`), repeated keys for
 * arrays (`Details.Fields=…&Details.Fields=…`) and JSON-typed values sent as JSON strings
 * (`Metadata`, `HiddenDetails`, each `Details.Fields` item) — twilio-node's serialisation.
 *
 * This file only turns strings into the types the services expect; the limits themselves are
 * checked by the services (src/domain/validation.ts). A value that cannot even be converted is
 * INVALID_ARGUMENT (60200) naming the Twilio parameter.
 */
import { InvalidArgumentError, VerityError } from '../domain/errors.ts';
import { readCapped } from '../edge/body.ts';

export class Form {
  /** `prefix` is the dotted path of this group inside the request, for error messages. */
  constructor(
    private readonly params: URLSearchParams,
    private readonly prefix = '',
  ) {}

  static parse(text: string): Form {
    return new Form(new URLSearchParams(text));
  }

  /** The parameter's full Twilio name, e.g. `Config.CodeLength` inside the `Config` group. */
  name(key: string): string {
    return this.prefix ? `${this.prefix}.${key}` : key;
  }

  has(key: string): boolean {
    return this.params.has(this.name(key));
  }

  /** True when no parameter at all is in this group. */
  isEmpty(): boolean {
    for (const k of this.params.keys()) if (!this.prefix || k.startsWith(`${this.prefix}.`)) return false;
    return true;
  }

  /** The parameters under `Key.` (dotted keys), as their own form: `form.group('Config').int('Skew')`. */
  group(key: string): Form {
    return new Form(this.params, this.name(key));
  }

  /** The first value of a key (Twilio parameters are single-valued unless documented as lists). */
  string(key: string): string | undefined {
    return this.params.get(this.name(key)) ?? undefined;
  }

  /** Every value of a repeated key, in order. */
  all(key: string): string[] {
    return this.params.getAll(this.name(key));
  }

  required(key: string): string {
    const v = this.string(key);
    if (v === undefined) throw new InvalidArgumentError(this.name(key), 'is required');
    return v;
  }

  int(key: string): number | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    if (!/^-?[0-9]{1,9}$/.test(v.trim())) throw new InvalidArgumentError(this.name(key), 'must be an integer');
    return Number(v.trim());
  }

  /** ISO 8601 (twilio-node sends `YYYY-MM-DDTHH:mm:ssZ`). */
  date(key: string): Date | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const d = /^\d{4}-\d{2}-\d{2}T/.test(v) ? new Date(v) : new Date(NaN);
    if (Number.isNaN(d.getTime()))
      throw new InvalidArgumentError(this.name(key), 'must be an ISO 8601 date-time, e.g. 2026-01-01T12:00:00Z');
    return d;
  }

  /** A JSON-typed parameter (Metadata, HiddenDetails): the services check its shape. */
  json(key: string): unknown {
    const v = this.string(key);
    return v === undefined ? undefined : parseJson(v, this.name(key));
  }

  /** A repeated JSON-typed parameter (Details.Fields): each value is one JSON item. */
  jsonList(key: string): unknown[] | undefined {
    const values = this.all(key);
    return values.length ? values.map((v) => parseJson(v, this.name(key))) : undefined;
  }

  /** One of `values` (Twilio enums are lowercase; a client sending `SHA1` means `sha1`). */
  oneOf<const V extends string>(key: string, values: readonly V[]): V | undefined {
    const v = this.string(key)?.toLowerCase();
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(this.name(key), `must be one of ${values.join(', ')}`);
    return v as V;
  }
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidArgumentError(name, 'must be JSON');
  }
}

/** Drops undefined entries, so an omitted parameter stays omitted (services: omitted = keep). */
export function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export class PayloadTooLargeError extends VerityError {
  constructor(limit: number) {
    super('PAYLOAD_TOO_LARGE', undefined, 413, `Request body over ${limit} bytes`);
  }
}

export class UnsupportedMediaTypeError extends VerityError {
  constructor() {
    super('UNSUPPORTED_MEDIA_TYPE', undefined, 415, 'Request bodies must be application/x-www-form-urlencoded');
  }
}

/**
 * The request's parameters: the query string for GET and DELETE, the form body for POST.
 * The body is read with a hard cap: the server-wide check only sees Content-Length, and a
 * chunked body has none.
 */
export async function readForm(request: Request, url: URL, limitBytes: number): Promise<Form> {
  if (request.method !== 'POST') return new Form(url.searchParams);
  const type = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  const text = await readText(request, limitBytes);
  if (text.length > 0 && type !== undefined && type !== 'application/x-www-form-urlencoded') throw new UnsupportedMediaTypeError();
  return Form.parse(text);
}

async function readText(request: Request, limitBytes: number): Promise<string> {
  if (Number(request.headers.get('content-length') ?? 0) > limitBytes) throw new PayloadTooLargeError(limitBytes);
  if (!request.body) return '';
  const body = await readCapped(request.body, limitBytes);
  if (!body) throw new PayloadTooLargeError(limitBytes);
  return body.toString('utf8');
}
