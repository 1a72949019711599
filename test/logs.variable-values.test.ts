// The attack: send a secret input (a TOTP code, a seed) with the wrong JSON type — a number, a
// boolean, an array, an object, null where it is required — or right-typed next to a broken
// sibling field. graphql-js quotes the value it could not coerce (or the whole input object) in its
// error message, and that message used to reach the log at error level, with or without credentials.
// Every sensitive input is found in the schema itself, so an input added later is covered too; each
// is sent through every transport (HTTP with and without credentials, WebSocket), as a variable, as
// the whole variable, and as a literal in the document. Then the whole log, at trace level, and
// every response are searched for the values sent.
import { randomBytes, randomInt } from 'node:crypto';
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { waitUntil, wsClient } from './support/live.ts';
import { createLogger } from '../src/logger.ts';
import { listen, type HttpServer } from '../src/http.ts';
import { schema } from '../src/schema/index.ts';

const lines: string[] = [];
const logger = createLogger('trace', { write: (s: string) => void lines.push(s) });

let t: TestApp;
let http: HttpServer;
let a: Tenant;
let base: string;

beforeAll(async () => {
  t = await startTestApp({ LOG_LEVEL: 'trace', VERITY_RATE_LIMIT_ACCOUNT_PER_SECOND: '0' }, { logger });
  http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10, logger });
  http.server.keepAliveTimeout = 120_000; // see logs.redaction.test.ts
  base = `http://127.0.0.1:${http.port}`;
  a = await t.newAccount('Variable values');
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

/** Input names that carry a code, a seed or a credential (the logger's SECRET_KEYS plus `code`). */
const SENSITIVE = /^(authPayload|secret|seed|token|authToken|accessToken|code|password|signingSecret|credential)$/i;

interface Sensitive {
  field: GraphQLField<unknown, unknown>;
  arg: string;
  /** Path inside the argument to the sensitive input field ([] when the argument itself is one). */
  path: string[];
  type: GraphQLInputType;
}

/** Every sensitive input of every mutation, query and subscription argument, down to nested input objects. */
function sensitiveInputs(): Sensitive[] {
  const found: Sensitive[] = [];
  const walk = (field: GraphQLField<unknown, unknown>, arg: string, type: GraphQLInputType, path: string[], depth: number) => {
    const named = getNamedType(type);
    if (!isInputObjectType(named) || depth > 3) return;
    for (const f of Object.values(named.getFields())) {
      if (SENSITIVE.test(f.name)) found.push({ field, arg, path: [...path, f.name], type: f.type });
      walk(field, arg, f.type, [...path, f.name], depth + 1);
    }
  };
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    for (const field of Object.values(root?.getFields() ?? {})) {
      for (const arg of field.args) {
        if (SENSITIVE.test(arg.name)) found.push({ field, arg: arg.name, path: [], type: arg.type });
        walk(field, arg.name, arg.type, [], 0);
      }
    }
  }
  return found;
}

class EnumValue {
  constructor(readonly name: string) {}
  toJSON() {
    return this.name;
  }
}

/** A value of `type` with only its required fields (what coercion needs to reach the field under test). */
function sample(type: GraphQLInputType): unknown {
  if (isNonNullType(type)) return sample(type.ofType);
  if (isListType(type)) return [];
  if (isEnumType(type)) return new EnumValue(type.getValues()[0]!.name);
  if (isInputObjectType(type)) {
    const out: Record<string, unknown> = {};
    for (const f of Object.values(type.getFields())) if (isNonNullType(f.type)) out[f.name] = sample(f.type);
    return out;
  }
  if (isScalarType(type)) {
    if (type.name === 'Int' || type.name === 'Float') return 1;
    if (type.name === 'Boolean') return true;
    if (type.name === 'DateTime') return new Date(0).toISOString();
    if (type.name === 'JSONObject') return {};
    return 'x';
  }
  throw new Error(`no sample for ${String(type)}`);
}

/** A JavaScript value as a GraphQL literal; `VAR` stands for the variable `$v`. */
const VAR = Symbol('var');
function literal(v: unknown): string {
  if (v === VAR) return '$v';
  if (v instanceof EnumValue) return v.name;
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(literal).join(', ')}]`;
  if (typeof v === 'object')
    return `{ ${Object.entries(v as object)
      .map(([k, x]) => `${k}: ${literal(x)}`)
      .join(', ')} }`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

const setIn = (obj: unknown, path: string[], value: unknown): unknown => {
  if (path.length === 0) return value;
  const o = { ...(obj as Record<string, unknown>) };
  o[path[0]!] = setIn(o[path[0]!], path.slice(1), value);
  return o;
};

interface Case {
  what: string;
  query: string;
  variables: Record<string, unknown>;
  /** Strings and digit runs that must appear in no log line and no response. */
  secrets: string[];
}

const seed = () => randomBytes(20).toString('hex').toUpperCase(); // distinct, greppable
const digits = () => String(randomInt(100_000_000, 999_999_999)) + String(randomInt(100_000, 999_999));

/** For one sensitive input: every wrong JSON type, and right-typed next to a broken sibling. */
function casesFor(s: Sensitive): Case[] {
  const root =
    schema.getMutationType()?.getFields()[s.field.name] === s.field
      ? 'mutation'
      : schema.getSubscriptionType()?.getFields()[s.field.name] === s.field
        ? 'subscription'
        : 'query';
  const argDef = s.field.args.find((x) => x.name === s.arg)!;
  const returns = getNamedType(s.field.type);
  const selection = isScalarType(returns) || isEnumType(returns) ? '' : ' { __typename }';
  const otherArgs = s.field.args
    .filter((x) => x.name !== s.arg && isNonNullType(x.type))
    .map((x) => `${x.name}: ${literal(sample(x.type))}`);
  const call = (argText: string) => `${s.field.name}(${[...otherArgs, `${s.arg}: ${argText}`].join(', ')})${selection}`;
  const where = `${s.field.name}(${s.arg}${s.path.map((p) => `.${p}`).join('')})`;
  const base = sample(argDef.type);
  const out: Case[] = [];
  const wrong: [string, () => { value: unknown; secrets: string[] }][] = [
    [
      'a number',
      () => {
        const d = digits();
        return { value: Number(d), secrets: [d] };
      },
    ],
    ['a boolean', () => ({ value: true, secrets: [] })],
    [
      'an array',
      () => {
        const x = seed();
        return { value: [x], secrets: [x] };
      },
    ],
    [
      'an object',
      () => {
        const x = seed();
        return { value: { value: x }, secrets: [x] };
      },
    ],
  ];
  if (isNonNullType(s.type)) wrong.push(['null', () => ({ value: null, secrets: [] })]);
  for (const [kind, make] of wrong) {
    const inArg = make();
    out.push({
      what: `${where} as ${kind}, in the variable`,
      query: `${root} ($i: ${String(argDef.type)}) { ${call('$i')} }`,
      variables: { i: setIn(base, s.path, inArg.value) },
      secrets: inArg.secrets,
    });
    const whole = make();
    const namedType = getNullableType(s.type);
    out.push({
      what: `${where} as ${kind}, the whole variable`,
      query: `${root} ($v: ${String(namedType)}!) { ${call(literal(setIn(base, s.path, VAR)))} }`,
      variables: { v: whole.value },
      secrets: whole.secrets,
    });
    const lit = make();
    out.push({
      what: `${where} as ${kind}, a literal in the document`,
      query: `${root} { ${call(literal(setIn(base, s.path, lit.value)))} }`,
      variables: {},
      secrets: lit.secrets,
    });
  }
  // Right-typed, but the input object around it is broken: graphql-js quotes the whole object.
  if (s.path.length > 0) {
    const parentPath = s.path.slice(0, -1);
    const parent = parentPath.reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, base as Record<string, unknown>);
    const sibling = Object.keys(parent).find((k) => k !== s.path.at(-1));
    const x1 = seed();
    const x2 = seed();
    if (sibling) {
      const missing = setIn(base, s.path, x1) as Record<string, unknown>;
      const p = parentPath.reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, missing);
      delete p[sibling];
      out.push({
        what: `${where} right-typed, required sibling "${sibling}" missing`,
        query: `${root} ($i: ${String(argDef.type)}) { ${call('$i')} }`,
        variables: { i: missing },
        secrets: [x1],
      });
    }
    out.push({
      what: `${where} right-typed, an unknown sibling field`,
      query: `${root} ($i: ${String(argDef.type)}) { ${call('$i')} }`,
      variables: { i: setIn(setIn(base, s.path, x2), [...parentPath, 'notAField'], 1) },
      secrets: [x2],
    });
  }
  return out;
}

interface ErrorBody {
  errors?: { message: string; extensions?: { code?: string } }[];
}

async function overHttp(c: Case, authorization?: string): Promise<ErrorBody> {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ query: c.query, variables: c.variables }),
  });
  return (await res.json()) as ErrorBody;
}

async function overWs(client: ReturnType<typeof wsClient>, c: Case): Promise<ErrorBody> {
  return new Promise((resolve) => {
    const got: ErrorBody = {};
    client.subscribe(
      { query: c.query, variables: c.variables },
      {
        next: (r) => void (got.errors = (r.errors ?? []) as ErrorBody['errors']),
        error: (e) => resolve({ errors: Array.isArray(e) ? e : [{ message: String(e) }] }),
        complete: () => resolve(got),
      },
    );
  });
}

const inText = (text: string, secret: string) =>
  /^\d+$/.test(secret) ? new RegExp(`(?<!\\d)${secret}(?!\\d)`).test(text) : text.toLowerCase().includes(secret.toLowerCase());

describe('a secret sent with the wrong JSON type is neither logged nor echoed', () => {
  it('the sensitive inputs are found in the schema', () => {
    const names = sensitiveInputs().map((s) => `${s.field.name}.${[s.arg, ...s.path].join('.')}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'verifyFactor.input.authPayload',
        'createChallenge.input.authPayload',
        'verifyChallenge.input.authPayload',
        'createTotpFactor.input.secret',
      ]),
    );
  });

  it('every sensitive input × every wrong JSON type, over HTTP with and without credentials and over WebSocket: no value in any log line or response, nothing logged at warn or above', async () => {
    const cases = sensitiveInputs().flatMap(casesFor);
    expect(cases.length).toBeGreaterThanOrEqual(60);
    const from = lines.length;
    const ws = wsClient(http.port, { authorization: a.auth });
    let sent = 0;
    for (const c of cases) {
      for (const [transport, run] of [
        ['HTTP, account credentials', () => overHttp(c, a.auth)],
        ['HTTP, no credentials', () => overHttp(c)],
        ['WebSocket', () => overWs(ws, c)],
      ] as const) {
        const body = await run();
        sent++;
        const where = `${c.what} (${transport})`;
        expect(body.errors?.length, where).toBeGreaterThan(0);
        expect(['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED'], `${where}: ${JSON.stringify(body.errors)}`).toContain(
          body.errors![0]!.extensions?.code,
        );
        const text = JSON.stringify(body);
        for (const s of c.secrets) expect(inText(text, s), `${where} echoes the value: ${text}`).toBe(false);
        if (c.what.includes('a boolean')) expect(text, where).not.toMatch(/\btrue\b/);
      }
    }
    await ws.dispose();
    // Every HTTP request's access line is written: the log is complete before it is searched.
    await waitUntil(() => lines.slice(from).filter((l) => l.includes('"msg":"request"')).length >= (sent * 2) / 3);

    const written = lines.slice(from);
    const entries = written.map((l) => JSON.parse(l) as { level: number; msg: string; errorCode?: string });
    expect(
      entries.filter((e) => e.level >= 40),
      'a client error logged at warn or above',
    ).toEqual([]);
    for (const c of cases) {
      for (const s of c.secrets)
        expect(
          written.filter((l) => inText(l, s)),
          `${c.what}: the value is in the log`,
        ).toEqual([]);
    }
    expect(written.some((l) => l.includes('got invalid value'))).toBe(false);
    // Not an empty log: the client errors are there, by code.
    expect(entries.some((e) => e.msg === 'client error' && e.errorCode === 'BAD_USER_INPUT')).toBe(true);
    expect(entries.some((e) => e.msg === 'request' && (e as { errors?: string[] }).errors?.includes('GRAPHQL_VALIDATION_FAILED'))).toBe(
      true,
    );
  });

  it('the message still says which variable, where in it, and what was expected', async () => {
    const r = await overHttp(
      {
        what: '',
        query: 'mutation ($i: VerifyFactorInput!) { verifyFactor(input: $i) { status } }',
        variables: { i: { factorSid: 'YF' + '0'.repeat(32), authPayload: 12345678 } },
        secrets: [],
      },
      a.auth,
    );
    expect(r.errors?.[0]?.message).toBe('Variable "$i" got invalid value at "i.authPayload"; String cannot represent a non string value.');
    const missing = await overHttp(
      {
        what: '',
        query: 'mutation ($i: VerifyFactorInput!) { verifyFactor(input: $i) { status } }',
        variables: { i: { authPayload: '12345678' } },
        secrets: [],
      },
      a.auth,
    );
    expect(missing.errors?.[0]?.message).toBe(
      'Variable "$i" got invalid value; Field "factorSid" of required type "ID!" was not provided.',
    );
  });
});

describe('the ws closed line', () => {
  it('carries the WebSocket close code (a number is not a TOTP code: it is not redacted)', async () => {
    const from = lines.length;
    const ws = wsClient(http.port, { authorization: a.auth });
    const done = new Promise<void>((resolve) =>
      ws.subscribe({ query: '{ __typename }' }, { next: () => {}, error: () => resolve(), complete: () => resolve() }),
    );
    await done;
    await ws.dispose();
    await waitUntil(() => lines.slice(from).some((l) => l.includes('"msg":"ws closed"')));
    const closed = lines
      .slice(from)
      .map((l) => JSON.parse(l) as { msg: string; code?: unknown })
      .find((e) => e.msg === 'ws closed');
    expect(closed?.code).toBe(1000);
  });
});
