// The import command's file formats (docs/importing.md "Formats"): each file becomes records of
// { line, item } (an item for importFactors) or { line, error } (a record that cannot be read).
// Reading checks only the shape; the rules (secret, identity, config) are the use case's, so a
// file and the GraphQL mutation are judged alike. No message here ever contains a secret.
import { parse as parseCsv } from 'csv-parse/sync';
import type { ImportItem } from '../src/services/factor-import.ts';

export const FORMATS = ['csv', 'otpauth', 'aegis'] as const;
export type Format = (typeof FORMATS)[number];
export type IdentityFrom = 'label' | 'issuer';

export type ImportRecord = { line: number; item: ImportItem } | { line: number; error: string };

export interface ReadOptions {
  verified: boolean;
  identityFrom: IdentityFrom;
}

/** A whole file that cannot be imported (an encrypted Aegis export, a CSV without its header): exit 2. */
export class FileFormatError extends Error {}

export function formatOf(file: string): Format {
  if (/\.csv$/i.test(file)) return 'csv';
  if (/\.json$/i.test(file)) return 'aegis';
  return 'otpauth';
}

export function readRecords(text: string, format: Format, opts: ReadOptions): ImportRecord[] {
  if (format === 'csv') return readCsv(text, opts);
  if (format === 'aegis') return readAegis(text, opts);
  return readOtpauth(text, opts);
}

/** Key URI parameters → the factor's config (the use case validates the values). */
function configFrom(p: { algorithm?: string | null; digits?: string | number | null; period?: string | number | null }) {
  const config: NonNullable<ImportItem['config']> = {};
  if (p.algorithm) config.alg = String(p.algorithm).toLowerCase() as 'sha1';
  if (p.digits !== undefined && p.digits !== null && p.digits !== '') config.codeLength = Number(p.digits);
  if (p.period !== undefined && p.period !== null && p.period !== '') config.timeStep = Number(p.period);
  return Object.keys(config).length ? config : undefined;
}

const BOOL: Record<string, boolean> = { true: true, false: false, yes: true, no: false, '1': true, '0': false };

// ------------------------------------------------------------------ csv

const REQUIRED_COLUMNS = ['identity', 'secret', 'friendly_name'];

function readCsv(text: string, opts: ReadOptions): ImportRecord[] {
  const out: ImportRecord[] = [];
  let rows: { record: Record<string, string>; info: { lines: number } }[];
  try {
    rows = parseCsv(text, {
      columns: (header: string[]) => {
        const names = header.map((h) => h.trim().toLowerCase());
        const missing = REQUIRED_COLUMNS.filter((c) => !names.includes(c));
        if (missing.length)
          throw new FileFormatError(`the CSV header must name the columns ${REQUIRED_COLUMNS.join(',')} (missing: ${missing.join(', ')})`);
        return names;
      },
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
      skip_records_with_error: true,
      // The parser's own message may quote a character of the line (a secret's): the code says enough.
      on_skip: (err) =>
        void out.push({ line: Number(err?.lines ?? 0), error: `cannot read this CSV record (${err?.code ?? 'malformed'})` }),
    }) as never;
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw new FileFormatError(`cannot read the CSV file (${(e as { code?: string }).code ?? 'malformed'})`);
  }
  for (const { record: r, info } of rows) {
    const line = info.lines;
    const missing = REQUIRED_COLUMNS.filter((c) => r[c] === undefined);
    if (missing.length) {
      out.push({ line, error: `missing field(s): ${missing.join(', ')}` });
      continue;
    }
    const verified = r.verified === undefined || r.verified === '' ? opts.verified : BOOL[r.verified.toLowerCase()];
    if (verified === undefined) {
      out.push({ line, error: 'verified: must be true or false' });
      continue;
    }
    const config = configFrom({ algorithm: r.algorithm, digits: r.digits, period: r.period });
    out.push({
      line,
      item: { identity: r.identity!, secret: r.secret!, friendlyName: r.friendly_name!, verified, ...(config ? { config } : {}) },
    });
  }
  return out.sort((a, b) => a.line - b.line);
}

// ------------------------------------------------------------------ otpauth

/**
 * A Key URI's label is `Issuer:account` or `account`, percent-encoded (Google Authenticator Key
 * Uri Format). The issuer prefix is the part before the first colon; spaces after it are ignored.
 */
export function splitLabel(label: string): { issuer?: string; account: string } {
  const i = label.indexOf(':');
  return i < 0 ? { account: label.trim() } : { issuer: label.slice(0, i).trim(), account: label.slice(i + 1).trim() };
}

function readOtpauth(text: string, opts: ReadOptions): ImportRecord[] {
  const out: ImportRecord[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const s = raw.trim();
    if (!s || s.startsWith('#')) return;
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      return void out.push({ line, error: 'not a URI' });
    }
    if (url.protocol !== 'otpauth:') return void out.push({ line, error: 'not an otpauth:// URI' });
    if (url.host !== 'totp')
      return void out.push({ line, error: `otpauth://${url.host || '?'}/ is not supported: Verity imports TOTP only` });
    let label: string;
    try {
      label = decodeURIComponent(url.pathname.replace(/^\//, ''));
    } catch {
      return void out.push({ line, error: 'the label is not valid percent-encoding' });
    }
    const { issuer: labelIssuer, account } = splitLabel(label);
    const q = url.searchParams;
    const secret = q.get('secret');
    if (!secret) return void out.push({ line, error: 'the URI has no secret parameter' });
    const issuer = q.get('issuer') ?? labelIssuer;
    const identity = opts.identityFrom === 'issuer' ? issuer : account;
    if (!identity)
      return void out.push({
        line,
        error: `no ${opts.identityFrom === 'issuer' ? 'issuer' : 'account name in the label'} to take the identity from`,
      });
    const config = configFrom({ algorithm: q.get('algorithm'), digits: q.get('digits'), period: q.get('period') });
    out.push({
      line,
      item: { identity, secret, friendlyName: account || identity, verified: opts.verified, ...(config ? { config } : {}) },
    });
  });
  return out;
}

// ------------------------------------------------------------------ aegis

interface AegisEntry {
  type?: unknown;
  uuid?: unknown;
  name?: unknown;
  issuer?: unknown;
  info?: { secret?: unknown; algo?: unknown; digits?: unknown; period?: unknown };
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

function readAegis(text: string, opts: ReadOptions): ImportRecord[] {
  let doc: { db?: unknown };
  try {
    doc = JSON.parse(text) as { db?: unknown };
  } catch {
    throw new FileFormatError('not a JSON file: expected an Aegis Authenticator export');
  }
  if (typeof doc?.db === 'string') {
    throw new FileFormatError(
      'this Aegis export is encrypted: export again from Aegis with encryption turned off (on a trusted machine), import it, then delete the file',
    );
  }
  const entries = (doc?.db as { entries?: unknown } | undefined)?.entries;
  if (!Array.isArray(entries)) throw new FileFormatError('not an Aegis export: expected db.entries[]');
  // JSON.parse keeps no positions: an entry's line is the line of its uuid (unique), else its place in the list.
  const lineOf = (e: AegisEntry, i: number) => {
    const uuid = str(e.uuid);
    const at = uuid ? text.indexOf(JSON.stringify(uuid)) : -1;
    return at < 0 ? i + 1 : text.slice(0, at).split('\n').length;
  };
  return (entries as AegisEntry[]).map((e, i): ImportRecord => {
    const line = lineOf(e ?? {}, i);
    if (!e || typeof e !== 'object') return { line, error: 'not an entry object' };
    if (e.type !== 'totp') return { line, error: `type ${JSON.stringify(str(e.type) ?? null)} is not supported: Verity imports TOTP only` };
    const name = str(e.name)?.trim();
    const issuer = str(e.issuer)?.trim();
    const secret = str(e.info?.secret);
    if (!secret) return { line, error: 'the entry has no info.secret' };
    const identity = opts.identityFrom === 'issuer' ? issuer : name;
    if (!identity)
      return { line, error: `the entry has no ${opts.identityFrom === 'issuer' ? 'issuer' : 'name'} to take the identity from` };
    const config = configFrom({
      algorithm: str(e.info?.algo),
      digits: e.info?.digits as number | undefined,
      period: e.info?.period as number | undefined,
    });
    return { line, item: { identity, secret, friendlyName: name || identity, verified: opts.verified, ...(config ? { config } : {}) } };
  });
}
