/**
 * Property-test machinery: inputs derived from the schema itself, so a new
 * operation, argument, input type or scalar is fuzzed without touching the tests.
 *
 * - `operations(schema)`: one document per root Query/Mutation field, every argument (also those
 *   of nested fields in the selection) bound to a variable, every leaf field selected a few levels deep.
 * - `wellTyped(type)`: values the GraphQL layer accepts, with hostile contents (NUL, lone
 *   surrogates, sizes around every limit, other tenants' SIDs, deep/wide JSON with `__proto__`…).
 * - `illTyped(type)`: a well-typed value broken in one place (wrong type, missing required,
 *   extra field, object where a scalar belongs), or arbitrary JSON.
 * - `Fixtures`: two tenants with a service, entity, factors, a challenge, a webhook; generated
 *   values refer to them symbolically (`Ref`) and are resolved when sent, so a fixture deleted
 *   by a successful run can be recreated without invalidating later runs.
 * - `snapshot()`: row count and checksum per table, to prove a failed mutation wrote nothing.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import type { PrismaClient } from '../../src/db/client.ts';
import { newSid } from '../../src/domain/sid.ts';
import { ADMIN_TOKEN, type Tenant, type TestApp } from './app.ts';
import { CreateChallenge, CreateService, CreateTotpFactor, CreateWebhook, VerifyFactor } from './documents.ts';
import { DEFAULT_TOTP_CONFIG, generateCode, normalizeBase32Secret } from '../../src/domain/totp.ts';

// ------------------------------------------------------------------ run budget

/** Runs per property: modest by default (CI runs the suite twice); VERITY_PROPERTY_RUNS=1000 to dig. */
export const RUNS = Number(process.env.VERITY_PROPERTY_RUNS ?? 0) || undefined;
export const runs = (base: number) => RUNS ?? base;

// ------------------------------------------------------------------ symbolic references

export type RefKind = 'account' | 'service' | 'entity' | 'factor' | 'unverifiedFactor' | 'challenge' | 'webhook' | 'delivery' | 'identity';
export type Owner = 'own' | 'other';

/** A fixture's SID (or identity), resolved when the request is built. */
export class Ref {
  constructor(
    readonly kind: RefKind,
    readonly owner: Owner,
    /** Twilio accepts uppercase hex: same SID, other spelling. */
    readonly upper = false,
  ) {}
  toString() {
    return `Ref(${this.owner}.${this.kind}${this.upper ? ',upper' : ''})`;
  }
}

/** An instant relative to the test clock (expirationDate: in the past, near, at and past the 60 min cap). */
export class NowOffset {
  constructor(readonly ms: number) {}
  toString() {
    return `NowOffset(${this.ms})`;
  }
}

export type FixtureSet = Record<RefKind, string>;

/** Replaces every Ref / NowOffset in a generated value with its current concrete value. */
export function resolve(value: unknown, fx: Record<Owner, FixtureSet>, now: Date): unknown {
  if (value instanceof Ref) {
    const v = fx[value.owner][value.kind];
    return value.upper && value.kind !== 'identity' ? v.slice(0, 2) + v.slice(2).toUpperCase() : v;
  }
  if (value instanceof NowOffset) return new Date(now.getTime() + value.ms).toISOString();
  if (Array.isArray(value)) return value.map((v) => resolve(v, fx, now));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // defineProperty: a generated "__proto__" key must stay an own, serialisable key.
      Object.defineProperty(out, k, { value: resolve(v, fx, now), enumerable: true, configurable: true, writable: true });
    }
    return out;
  }
  return value;
}

// ------------------------------------------------------------------ primitive arbitraries

const LENGTHS = [
  0, 1, 2, 3, 7, 8, 9, 16, 29, 30, 31, 32, 33, 36, 37, 64, 65, 100, 101, 128, 129, 256, 257, 1024, 1025, 2048, 2049, 4000,
] as const;

/** Strings that have broken services before: NUL (PostgreSQL text refuses it), lone surrogates, RTL marks, SQL. */
const NASTY = [
  '',
  ' ',
  '\t\n',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\udc00\ud800',
  '\u202etxt.exe',
  '\ufeff',
  '🙂',
  'é',
  'e\u0301',
  'İ',
  '\'; DROP TABLE "Service"; --',
  '%00',
  '%zz',
  '../../etc/passwd',
  '${jndi:ldap://x}',
  '<script>alert(1)</script>',
  ':',
  'a:b',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  'NaN',
  '-0',
  '1e400',
  '0x10',
  ' 123456 ',
  '١٢٣٤٥٦',
  '123456\u0000',
  '12345678901234567890',
] as const;

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  {
    weight: 2,
    arbitrary: fc
      .record({ unit: fc.constantFrom('a', 'A1-', '🙂', '\u0000', 'é', ' ', '\ud800'), len: fc.constantFrom(...LENGTHS) })
      .map(({ unit, len }) => unit.repeat(Math.ceil(len / unit.length)).slice(0, len)),
  },
  // Far over any field limit, under the body limit.
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(50_000), '\u0000'.repeat(20_000)) },
);

const INT_EDGES = [0, -1, 1, 2, 3, 5, 8, 9, 19, 20, 30, 60, 61, 100, 1000, 1001, 604_800, 604_801, 2_147_483_647, -2_147_483_648] as const;
export const int32 = fc.oneof(fc.constantFrom(...INT_EDGES), fc.integer({ min: -2_147_483_648, max: 2_147_483_647 }));

const HEX = '0123456789abcdef';
const PREFIXES = ['AC', 'VA', 'YE', 'YF', 'YC', 'YW', 'YD', 'SK', 'ac', 'va', 'yf', '', 'XX'] as const;

/** SID-shaped strings that are not a fixture: right prefix and wrong length, non-hex, unknown. */
const sidLike = fc.oneof(
  fc
    .record({
      p: fc.constantFrom(...PREFIXES),
      n: fc.constantFrom(0, 1, 31, 32, 33, 64),
      c: fc.constantFrom('0', 'f', 'F', 'g', ' ', '\u0000'),
    })
    .map(({ p, n, c }) => p + c.repeat(n)),
  fc.constantFrom(...PREFIXES).chain((p) => fc.string({ unit: fc.constantFrom(...HEX), minLength: 32, maxLength: 32 }).map((h) => p + h)),
);

const KIND_BY_NAME: Record<string, RefKind> = {
  accountsid: 'account',
  servicesid: 'service',
  entitysid: 'entity',
  factorsid: 'factor',
  challengesid: 'challenge',
  webhooksid: 'webhook',
  deliverysid: 'delivery',
  webhookdeliverysid: 'delivery',
};
const ALL_KINDS: RefKind[] = ['account', 'service', 'entity', 'factor', 'unverifiedFactor', 'challenge', 'webhook', 'delivery'];

function refArb(kinds: RefKind[]): fc.Arbitrary<Ref> {
  return fc
    .record({ kind: fc.constantFrom(...kinds), owner: fc.constantFrom<Owner>('own', 'own', 'other'), upper: fc.boolean() })
    .map(({ kind, owner, upper }) => new Ref(kind, owner, upper));
}

/** An ID argument: mostly a fixture's SID of the kind its name says (so validation past NOT_FOUND runs). */
function idArb(name: string): fc.Arbitrary<unknown> {
  const kind = KIND_BY_NAME[name.toLowerCase()];
  const refs = kind
    ? fc.oneof(
        { weight: 4, arbitrary: refArb(kind === 'factor' ? ['factor', 'unverifiedFactor'] : [kind]) },
        { weight: 1, arbitrary: refArb(ALL_KINDS) },
      )
    : refArb(ALL_KINDS);
  return fc.oneof({ weight: 5, arbitrary: refs }, { weight: 2, arbitrary: sidLike }, { weight: 1, arbitrary: hostileString });
}

const identityLike = fc.oneof(
  fc.constantFrom(new Ref('identity', 'own'), new Ref('identity', 'other')),
  fc.stringMatching(/^[A-Za-z0-9]{1,20}(-[A-Za-z0-9]{1,20}){0,3}$/),
);

/** Field-name hints: plausible values so generated requests get past the first check. */
const HINTS: Record<string, fc.Arbitrary<unknown>> = {
  identity: identityLike,
  authpayload: fc.oneof(fc.stringMatching(/^[0-9]{3,8}$/), fc.stringMatching(/^[0-9]{1,12}$/)),
  secret: fc.oneof(
    fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'), minLength: 0, maxLength: 140 }),
    fc.constantFrom('JBSWY3DPEHPK3PXP', 'jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ===='),
  ),
  webhookurl: fc.oneof(
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc.constantFrom(
      'http://127.0.0.1:9/hook',
      'https://[::1]/x',
      'ftp://example.com/',
      'javascript:alert(1)',
      'http://',
      'http://a b/',
      'http://\u0000/',
    ),
  ),
  eventtypes: fc.array(
    fc.constantFrom(
      '*',
      'factor.created',
      'factor.verified',
      'factor.deleted',
      'challenge.approved',
      'challenge.denied',
      'challenge.expired',
      'nope',
      '',
    ),
    { maxLength: 8 },
  ),
  after: fc.oneof(
    fc.base64String({ maxLength: 60 }),
    fc.constantFrom('', 'AAAA', '!!!', 'eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJzIjoiVkEifQ', 'x'.repeat(201)),
  ),
  graceseconds: fc.constantFrom(-1, 0, 1, 3600, 604_800, 604_801),
};

const WEIRD_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  '\u0000',
  '\ud800',
  '$where',
  'a.b',
  '🙂',
  'k'.repeat(300),
] as const;
const jsonKey = fc.oneof(fc.constantFrom(...WEIRD_KEYS), fc.string({ unit: 'binary', maxLength: 12 }));

/** JSON-object scalar inputs: nested, deep, wide, with weird keys and every JSON value type. */
export const jsonObjectArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(jsonKey, fc.oneof(hostileString, fc.string({ maxLength: 20 })), { maxKeys: 12 }) },
  {
    weight: 3,
    arbitrary: fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        hostileString,
        fc.double(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 4 }),
        tie('object'),
      ),
      object: fc.dictionary(jsonKey, tie('value'), { maxKeys: 5 }),
    })).object as fc.Arbitrary<Record<string, unknown>>,
  },
  // Deep: a chain of n objects, or of arrays inside one key.
  {
    weight: 1,
    arbitrary: fc.record({ n: fc.constantFrom(10, 100, 400, 800), arrays: fc.boolean() }).map(({ n, arrays }) => {
      let v: unknown = 'leaf';
      for (let i = 0; i < n; i++) v = arrays ? [v] : { a: v };
      return { deep: v } as Record<string, unknown>;
    }),
  },
  // Wide: many keys, serialised size around the 1024 limit.
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(40, 80, 500)
      .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'.repeat(i % 7)]))),
  },
);

const dateArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .constantFrom(-86_400_000, -1000, 0, 1000, 30_000, 300_000, 3_599_000, 3_600_000, 3_601_000, 86_400_000, 10 * 365 * 86_400_000)
      .map((ms) => new NowOffset(ms)),
  },
  { weight: 2, arbitrary: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()) },
);

// ------------------------------------------------------------------ schema-driven values

type Path = string;

/** A value the GraphQL layer accepts for `type` (well-typed), with hostile contents. */
export function wellTyped(type: GraphQLInputType, name: Path, depth = 0): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return inner(type.ofType, name, depth);
  // Nullable: null (an explicit "clear") now and then.
  return fc.oneof({ weight: 6, arbitrary: inner(type, name, depth) }, { weight: 1, arbitrary: fc.constant(null) });
}

function inner(type: GraphQLInputType, name: string, depth: number): fc.Arbitrary<unknown> {
  const generic = isListType(type)
    ? fc.array(wellTyped(type.ofType as GraphQLInputType, `${name}[]`, depth + 1), { maxLength: depth > 2 ? 2 : 24 })
    : scalarOrInput(type, name, depth);
  const hint = HINTS[name.toLowerCase()];
  return hint ? fc.oneof({ weight: 3, arbitrary: hint }, { weight: 2, arbitrary: generic }) : generic;
}

function scalarOrInput(type: GraphQLInputType, name: string, depth: number): fc.Arbitrary<unknown> {
  if (isEnumType(type)) return fc.constantFrom(...type.getValues().map((v) => v.name));
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields());
    const model: Record<string, fc.Arbitrary<unknown>> = {};
    for (const f of fields) model[f.name] = wellTyped(f.type, f.name, depth + 1);
    return fc.record(model, { requiredKeys: fields.filter((f) => isNonNullType(f.type)).map((f) => f.name) });
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case 'String':
        return hostileString;
      case 'ID':
        return idArb(name);
      case 'Int':
        return int32;
      case 'Float':
        return fc.double({ noNaN: true, noDefaultInfinity: true });
      case 'Boolean':
        return fc.boolean();
      case 'DateTime':
        return dateArb;
      case 'JSONObject':
        return jsonObjectArb;
      default:
        // A scalar added later: still fuzzed, with strings and JSON.
        return fc.oneof(hostileString, jsonObjectArb, int32);
    }
  }
  throw new Error(`no arbitrary for input type ${String(type)}`);
}

/** Anything JSON can carry, including objects where scalars belong and vice versa. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 2, 1e308, 0.5, -0.0, '12', '1e3', 'true', ''),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxLength: 4 }),
  fc.dictionary(jsonKey, fc.oneof(fc.string(), fc.integer()), { maxKeys: 4 }),
  jsonObjectArb,
);

/** How to break a well-typed value: at the `at`-th node (mod their number) replace, delete or add. */
interface Breakage {
  at: number;
  action: 'replace' | 'delete' | 'extra';
  key: string;
  value: unknown;
}

const breakageArb: fc.Arbitrary<Breakage> = fc.record({
  at: fc.nat(),
  action: fc.constantFrom<Breakage['action']>('replace', 'replace', 'delete', 'extra'),
  key: fc.oneof(fc.constantFrom('__proto__', 'extra', 'sid', 'accountSid', 'constructor'), fc.string({ maxLength: 8 })),
  value: anyJson,
});

/** Applies a breakage to a copy of `value` (containers: objects and arrays; the root counts too). */
export function breakValue(value: unknown, b: Breakage): unknown {
  const nodes: { parent: Record<string, unknown> | unknown[] | null; key: string | number }[] = [{ parent: null, key: '' }];
  const root = { v: structuredCloneSafe(value) };
  const walk = (parent: Record<string, unknown> | unknown[], key: string | number) => {
    nodes.push({ parent, key });
    const v = (parent as Record<string | number, unknown>)[key];
    if (v && typeof v === 'object' && !(v instanceof Ref) && !(v instanceof NowOffset)) {
      for (const k of Array.isArray(v) ? v.keys() : Object.keys(v)) walk(v as Record<string, unknown>, k as string | number);
    }
  };
  walk(root as unknown as Record<string, unknown>, 'v');
  const target = nodes[1 + (b.at % (nodes.length - 1))]!;
  const parent = target.parent as Record<string | number, unknown>;
  const current = parent[target.key];
  if (b.action === 'replace') parent[target.key] = b.value;
  else if (b.action === 'delete') {
    if (Array.isArray(parent)) parent.splice(target.key as number, 1);
    else delete parent[target.key];
  } else if (
    current &&
    typeof current === 'object' &&
    !Array.isArray(current) &&
    !(current instanceof Ref) &&
    !(current instanceof NowOffset)
  ) {
    Object.defineProperty(current, b.key, { value: b.value, enumerable: true, configurable: true, writable: true });
  } else parent[target.key] = { [b.key]: b.value, value: current };
  return root.v;
}

function structuredCloneSafe(v: unknown): unknown {
  if (v instanceof Ref || v instanceof NowOffset) return v;
  if (Array.isArray(v)) return v.map(structuredCloneSafe);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v))
      Object.defineProperty(out, k, { value: structuredCloneSafe(x), enumerable: true, configurable: true, writable: true });
    return out;
  }
  return v;
}

// ------------------------------------------------------------------ operations from the schema

export interface VarSpec {
  name: string;
  argName: string;
  type: GraphQLInputType;
}

export interface Operation {
  kind: 'query' | 'mutation';
  field: string;
  document: string;
  vars: VarSpec[];
}

/** Every root Query and Mutation field as one operation with all arguments (nested ones too) as variables. */
export function operations(schema: GraphQLSchema): Operation[] {
  const out: Operation[] = [];
  for (const [kind, root] of [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
  ] as const) {
    if (!root) continue;
    for (const field of Object.values(root.getFields())) {
      const vars: VarSpec[] = [];
      const args = bindArgs(field.args, vars);
      const named = getNamedType(field.type);
      const selection = isLeafType(named) ? '' : ` ${selectionOf(named as GraphQLObjectType, vars, 3, new Set())}`;
      const header = vars.length ? `(${vars.map((v) => `$${v.name}: ${String(v.type)}`).join(', ')})` : '';
      out.push({ kind, field: field.name, vars, document: `${kind} Fuzz${header} { ${field.name}${args}${selection} }` });
    }
  }
  return out;
}

function bindArgs(args: readonly GraphQLArgument[], vars: VarSpec[]): string {
  if (!args.length) return '';
  const parts = args.map((a) => {
    const name = `v${vars.length}_${a.name}`;
    vars.push({ name, argName: a.name, type: a.type });
    return `${a.name}: $${name}`;
  });
  return `(${parts.join(', ')})`;
}

/** Leaf fields, and object fields down to `depth` levels (each type once per path: no cycles). */
function selectionOf(type: GraphQLObjectType, vars: VarSpec[], depth: number, seen: Set<string>): string {
  if (!isObjectType(type) && !isInterfaceType(type)) return '{ __typename }';
  const parts = ['__typename'];
  const path = new Set(seen).add(type.name);
  for (const f of Object.values(type.getFields())) {
    const named = getNamedType(f.type);
    if (isLeafType(named)) parts.push(`${f.name}${bindArgs(f.args, vars)}`);
    else if (depth > 0 && !path.has(named.name) && (isObjectType(named) || isInterfaceType(named))) {
      const args = bindArgs(f.args, vars);
      parts.push(`${f.name}${args} ${selectionOf(named as GraphQLObjectType, vars, depth - 1, path)}`);
    }
  }
  return `{ ${parts.join(' ')} }`;
}

/** Variables for an operation: well-typed, or (ill) one variable broken / arbitrary JSON. */
export function variablesArb(op: Operation, ill: boolean): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const v of op.vars) model[v.name] = wellTyped(v.type, v.argName);
  // Nullable variables may be omitted altogether.
  const required = op.vars.filter((v) => isNonNullType(v.type)).map((v) => v.name);
  const good = fc.record(model, { requiredKeys: required });
  if (!ill) return good;
  return fc.oneof(
    fc.tuple(good, breakageArb).map(([vars, b]) => breakValue(vars, b) as Record<string, unknown>),
    fc.tuple(good, breakageArb, breakageArb).map(([vars, b1, b2]) => breakValue(breakValue(vars, b1), b2) as Record<string, unknown>),
    fc.dictionary(fc.oneof(fc.constantFrom(...op.vars.map((v) => v.name)), fc.string({ maxLength: 6 })), anyJson, { maxKeys: 4 }),
  );
}

// ------------------------------------------------------------------ fixtures

export class Fixtures {
  sets = {} as Record<Owner, FixtureSet>;
  tenants = {} as Record<Owner, Tenant>;

  constructor(private readonly t: TestApp) {}

  static async create(t: TestApp): Promise<Fixtures> {
    const fx = new Fixtures(t);
    fx.tenants.own = await t.newAccount('Own');
    fx.tenants.other = await t.newAccount('Other');
    for (const owner of ['own', 'other'] as const) fx.sets[owner] = await fx.build(owner);
    return fx;
  }

  /** A full set for one tenant: webhook first, so the factor's events leave a delivery row. */
  private async build(owner: Owner): Promise<FixtureSet> {
    const t = this.t;
    const auth = this.tenants[owner].auth;
    const serviceSid = (await t.ok(CreateService, { input: { friendlyName: `Props ${owner}`, totp: { issuer: 'Props', skew: 1 } } }, auth))
      .createService.sid;
    const hook = await t.ok(
      CreateWebhook,
      { input: { serviceSid, friendlyName: 'Props', webhookUrl: 'http://127.0.0.1:9/hook', eventTypes: ['*'], signing: 'STANDARD' } },
      auth,
    );
    const identity = `props-${owner}-${newSid('entity').slice(2, 10)}`;
    // Enrolled with our own TOTP code (the oathtool oracle is tested elsewhere; properties need no binary).
    const created = (await t.ok(CreateTotpFactor, { input: { serviceSid, identity, friendlyName: 'Verified' } }, auth)).createTotpFactor;
    const code = generateCode(
      normalizeBase32Secret(created.binding.secret)!,
      DEFAULT_TOTP_CONFIG,
      Math.floor(t.clock.now().getTime() / 1000),
    );
    await t.ok(VerifyFactor, { input: { factorSid: created.factor.sid, authPayload: code } }, auth);
    const verified = { factorSid: created.factor.sid };
    const unverified = (await t.ok(CreateTotpFactor, { input: { serviceSid, identity, friendlyName: 'Unverified' } }, auth))
      .createTotpFactor.factor.sid;
    const challenge = (await t.ok(CreateChallenge, { input: { factorSid: verified.factorSid } }, auth)).createChallenge.sid;
    const delivery = await t.deps.prisma.webhookDelivery.findFirstOrThrow({ where: { webhookSid: hook.createWebhook.webhook.sid } });
    const entity = await t.deps.prisma.entity.findFirstOrThrow({ where: { serviceSid, identity } });
    return {
      account: this.tenants[owner].sid,
      service: serviceSid,
      entity: entity.sid,
      identity,
      factor: verified.factorSid,
      unverifiedFactor: unverified,
      challenge,
      webhook: hook.createWebhook.webhook.sid,
      delivery: delivery.sid,
    };
  }

  /** After a successful mutation: rebuild a tenant's set if any of its rows is gone. */
  async repair(): Promise<void> {
    const p = this.t.deps.prisma;
    for (const owner of ['own', 'other'] as const) {
      const s = this.sets[owner];
      const present = await Promise.all([
        p.service.count({ where: { sid: s.service } }),
        p.entity.count({ where: { sid: s.entity } }),
        p.factor.count({ where: { sid: { in: [s.factor, s.unverifiedFactor] } } }),
        p.challenge.count({ where: { sid: s.challenge } }),
        p.webhook.count({ where: { sid: s.webhook } }),
        p.webhookDelivery.count({ where: { sid: s.delivery } }),
      ]);
      if (present.join() !== '1,1,2,1,1,1') this.sets[owner] = await this.build(owner);
    }
  }

  /** Authorization headers a run may use: mostly the own tenant, sometimes none/operator/garbage. */
  authArb(): fc.Arbitrary<'own' | 'operator' | 'none' | 'garbage'> {
    return fc.oneof(
      { weight: 12, arbitrary: fc.constant('own' as const) },
      fc.constantFrom('operator' as const, 'none' as const, 'garbage' as const),
    );
  }

  header(kind: 'own' | 'operator' | 'none' | 'garbage'): string | undefined {
    if (kind === 'own') return this.tenants.own.auth;
    if (kind === 'operator') return `Bearer ${ADMIN_TOKEN}`;
    if (kind === 'garbage') return 'Basic \u00ff\u00fe===:::'; // latin1 only: fetch refuses NUL in headers
    return undefined;
  }
}

// ------------------------------------------------------------------ checks

/** Row count and content checksum of every table (the test database holds only this file's data). */
export async function snapshot(prisma: PrismaClient): Promise<Record<string, string>> {
  const tables = await tableNames(prisma);
  const sql = tables
    .map((t) => `SELECT '${t}' AS t, count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM "${t}" x`)
    .join(' UNION ALL ');
  const rows = await prisma.$queryRawUnsafe<{ t: string; n: number; h: string }[]>(sql);
  return Object.fromEntries(rows.map((r) => [r.t, `${r.n}:${r.h}`]));
}

let cachedTables: string[] | undefined;
async function tableNames(prisma: PrismaClient): Promise<string[]> {
  cachedTables ??= (
    await prisma.$queryRawUnsafe<{ table_name: string }[]>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations' ORDER BY 1`,
    )
  ).map((r) => r.table_name);
  return cachedTables;
}

export interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

/** Codes are stable identifiers: upper snake case. */
const CODE_RE = /^[A-Z][A-Z0-9_]*$/;

/** The GraphQL-level properties every answer must have, whatever was sent. */
export function checkGraphQLAnswer(status: number, text: string, context: string): GraphQLBody {
  expect(status, `HTTP ${status} for ${context}: ${text.slice(0, 500)}`).toBeLessThan(500);
  let body: GraphQLBody;
  try {
    body = JSON.parse(text) as GraphQLBody;
  } catch {
    throw new Error(`not JSON (HTTP ${status}) for ${context}: ${text.slice(0, 300)}`);
  }
  for (const e of body.errors ?? []) {
    const code = e.extensions?.code;
    expect(
      typeof code === 'string' && CODE_RE.test(code),
      `error without a stable code for ${context}: ${JSON.stringify(e).slice(0, 500)}`,
    ).toBe(true);
    expect(code, `internal error for ${context}: ${JSON.stringify(e).slice(0, 500)}`).not.toBe('INTERNAL_SERVER_ERROR');
    expect(e.message).not.toBe('Unexpected error');
  }
  return body;
}

/** Never in any answer: a seed is only returned by createTotpFactor's binding. */
export function describeRun(op: Operation, vars: unknown): string {
  const s = JSON.stringify(vars);
  return `${op.field} ${s && s.length > 400 ? `${s.slice(0, 400)}…` : s}`;
}

/** fast-check parameters: VERITY_PROPERTY_RUNS scales the runs, VERITY_PROPERTY_SEED replays a failure (fast-check prints the seed). */
export function params(baseRuns: number): fc.Parameters<unknown> {
  const seed = process.env.VERITY_PROPERTY_SEED;
  return { numRuns: runs(baseRuns), ...(seed ? { seed: Number(seed) } : {}), endOnFailure: true };
}
