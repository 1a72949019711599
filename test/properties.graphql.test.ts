// Property: whatever a client sends to any root Query or Mutation field — derived from the schema,
// so new operations and input types are covered as they appear — Verity never answers 5xx, never an
// internal error, every error carries a stable extensions.code, and a failed mutation (or any
// query) leaves every table exactly as it was.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';
import { startTestApp, basic, type TestApp } from './support/app.ts';
import {
  Fixtures,
  checkGraphQLAnswer,
  describeRun,
  operations,
  params,
  resolve,
  snapshot,
  variablesArb,
  type Operation,
} from './support/properties.ts';

let t: TestApp;
let fx: Fixtures;

beforeAll(async () => {
  // Private webhook URLs allowed: the fixture webhook targets loopback, and no run waits on DNS.
  t = await startTestApp({ VERITY_WEBHOOK_ALLOW_PRIVATE: 'true' });
  fx = await Fixtures.create(t);
});
afterAll(() => t?.close());

const ops = operations(schema);

/** One request through the whole app (in-process), checked; returns whether it failed. */
async function run(op: Operation, generated: Record<string, unknown>, auth: Parameters<Fixtures['header']>[0]) {
  const vars = resolve(generated, fx.sets, t.clock.now()) as Record<string, unknown>;
  const context = describeRun(op, vars);
  const before = await snapshot(t.deps.prisma);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const header = fx.header(auth);
  if (header) headers.authorization = header;
  const res = await t.app.fetch('http://verity.test/graphql', {
    method: 'POST',
    headers,
    body: JSON.stringify({ query: op.document, variables: vars }),
  });
  const body = checkGraphQLAnswer(res.status, await res.text(), context);
  // The operation failed when its root field did (or the request was refused). An error deeper in
  // the result (a nested list's bad `first`) comes after a mutation committed: GraphQL semantics.
  const failed = !!body.errors?.some((e) => !e.path || e.path.length <= 1);
  if (op.kind === 'query' || failed) {
    // No half-written row: a failed mutation (and every query) changes nothing at all.
    expect(await snapshot(t.deps.prisma), `rows changed by ${failed ? 'failed ' : ''}${context}: ${JSON.stringify(body.errors)}`).toEqual(
      before,
    );
  } else {
    adoptRotatedToken(body.data);
    await fx.repair();
  }
  return failed;
}

/** A successful rotateAuthToken changed a fixture tenant's token: keep using the new one. */
function adoptRotatedToken(data: Record<string, unknown> | null | undefined) {
  const r = data?.rotateAuthToken as { authToken?: string; account?: { sid?: string } } | undefined;
  if (!r?.authToken || !r.account?.sid) return;
  for (const tenant of Object.values(fx.tenants)) {
    if (tenant.sid === r.account.sid) Object.assign(tenant, { token: r.authToken, auth: basic(tenant.sid, r.authToken) });
  }
}

describe('every root field, well-typed variables with hostile contents', () => {
  it('covers every root Query and Mutation field', () => {
    const names = ops.map((o) => o.field);
    for (const f of Object.keys(schema.getMutationType()!.getFields())) expect(names).toContain(f);
    for (const f of Object.keys(schema.getQueryType()!.getFields())) expect(names).toContain(f);
  });

  for (const op of ops) {
    it(`${op.kind} ${op.field}`, async () => {
      let failures = 0;
      let successes = 0;
      await fc.assert(
        fc.asyncProperty(variablesArb(op, false), fx.authArb(), async (vars, auth) => {
          if (await run(op, vars, auth)) failures++;
          else successes++;
        }),
        params(op.kind === 'mutation' ? 16 : 8),
      );
      expect(failures + successes).toBeGreaterThan(0);
    });
  }
});

describe('every root field, ill-typed variables', () => {
  for (const op of ops.filter((o) => o.vars.length > 0)) {
    it(`${op.kind} ${op.field}`, async () => {
      await fc.assert(
        fc.asyncProperty(variablesArb(op, true), async (vars) => {
          await run(op, vars, 'own');
        }),
        params(6),
      );
    });
  }
});
