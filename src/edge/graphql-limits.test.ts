import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createSchema, createYoga, type Plugin } from 'graphql-yoga';
import { parse } from 'graphql';
import { executionDeadline, operationCost } from './graphql-limits.ts';
import { schema } from '../schema/index.ts';

// A full, synchronous garbage collection, without starting vitest's worker with --expose-gc.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A Yoga whose executions run under the deadline plugin; `seen` gets a weak reference to every execution's signal. */
function app(seen: WeakRef<AbortSignal>[], ms = 60_000) {
  const spy: Plugin = {
    onExecute({ executeFn, setExecuteFn }) {
      setExecuteFn((args) => {
        seen.push(new WeakRef((args as unknown as { signal: AbortSignal }).signal));
        return executeFn(args);
      });
    },
  };
  return createYoga({
    schema: createSchema({ typeDefs: 'type Query { hello: String! }', resolvers: { Query: { hello: () => 'world' } } }),
    // spy first: the deadline plugin's execute calls it with the signal it made.
    plugins: [spy, executionDeadline(ms)],
    logging: false,
  });
}

describe('execution deadline', () => {
  it('lets go of every execution signal once the request is answered (no process-wide retention)', async () => {
    const seen: WeakRef<AbortSignal>[] = [];
    const yoga = app(seen);
    for (let i = 0; i < 20; i++) {
      const r = await yoga.fetch('http://verity.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ hello }"}',
      });
      expect(await r.json()).toEqual({ data: { hello: 'world' } });
    }
    expect(seen).toHaveLength(20);
    // WeakRef targets stay alive until the current job ends: let it end, then collect.
    await new Promise((r) => setImmediate(r));
    gc();
    // With AbortSignal.any() all 20 stayed reachable (Node's set of composite signals with listeners).
    expect(seen.filter((w) => w.deref() !== undefined)).toHaveLength(0);
  });

  it('still aborts the execution when the client goes away', async () => {
    const seen: WeakRef<AbortSignal>[] = [];
    const client = new AbortController();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const yoga = createYoga({
      schema: createSchema({
        typeDefs: 'type Query { slow: String! }',
        resolvers: {
          Query: {
            slow: (_p, _a, ctx: { request: Request }) => (
              started(),
              new Promise<string>((resolve) => ctx.request.signal.addEventListener('abort', () => resolve('late')))
            ),
          },
        },
      }),
      plugins: [
        {
          onExecute({ executeFn, setExecuteFn }) {
            setExecuteFn((args) => {
              const signal = (args as unknown as { signal: AbortSignal }).signal;
              seen.push(new WeakRef(signal));
              return executeFn(args);
            });
          },
        } satisfies Plugin,
        executionDeadline(60_000),
      ],
      logging: false,
    });
    const answer = Promise.resolve(
      yoga.fetch('http://verity.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ slow }"}',
        signal: client.signal,
      }),
    ).catch((e: unknown) => e);
    await running;
    client.abort(new Error('client gone'));
    await answer;
    expect(seen[0]!.deref()?.aborted).toBe(true);
  });
});

describe('operation cost', () => {
  const cost = (query: string, variableValues: Record<string, unknown> = {}, operationName?: string) =>
    operationCost({ schema, document: parse(query), variableValues, operationName });
  const page = '{ edges { node { sid friendlyName } } }';

  it('a page costs its rows however its size is spelled: literal, variable, operation default, schema default (50)', () => {
    const literal = cost(`{ services(first: 50) ${page} }`);
    expect(literal).toBe(1000 + 50 * 16.25);
    expect(cost(`query ($n: Int) { services(first: $n) ${page} }`, { n: 50 })).toBe(literal);
    expect(cost(`query ($n: Int = 50) { services(first: $n) ${page} }`)).toBe(literal);
    expect(cost(`query ($n: Int) { services(first: $n) ${page} }`, { n: null })).toBe(literal);
    expect(cost(`{ services ${page} }`)).toBe(literal);
  });

  it('aliases, named and inline fragments count every list they reach; @skip and @include are honoured', () => {
    const one = cost(`{ services(first: 10) ${page} }`)!;
    expect(cost(`{ a: services(first: 10) ${page} b: services(first: 10) ${page} }`)).toBe(2 * one);
    expect(cost(`query { ...Q } fragment Q on Query { services(first: 10) ${page} }`)).toBe(one);
    expect(cost(`{ ... on Query { services(first: 10) ${page} } }`)).toBe(one);
    expect(
      cost(`query ($no: Boolean!) { a: services(first: 10) ${page} b: services(first: 10) @include(if: $no) ${page} }`, { no: false }),
    ).toBe(one);
  });

  it('a nested list multiplies: read once per parent row', () => {
    const nested = (n: number) =>
      cost(`query ($n: Int) { services(first: $n) { edges { node { entities(first: $n) { edges { node { sid } } } } } } }`, { n });
    // 100 entity pages of 100 rows: more than 100 flat pages of 100 services.
    expect(nested(100)!).toBeGreaterThan(100 * cost('{ services(first: 100) { edges { node { sid } } } }')!);
  });

  it('a list chosen by ids counts one object per id: nodes(ids) with a page under each', () => {
    const under = '{ ... on Service { entities(first: 100) { edges { node { sid } } } } }';
    const one = cost(`query ($ids: [ID!]!) { nodes(ids: $ids) ${under} }`, { ids: ['VA1'] })!;
    const hundred = cost(`query ($ids: [ID!]!) { nodes(ids: $ids) ${under} }`, { ids: Array.from({ length: 100 }, (_, i) => `VA${i}`) })!;
    expect(hundred - 1000).toBeCloseTo(100 * (one - 1000)); // the read of the ids, then 100 objects each with its page
    expect(cost(`query ($id: ID!) { node(id: $id) ${under} }`, { id: 'VA1' })).toBeLessThan(one);
  });

  it('only the operation that runs is counted; introspection costs nothing; a size the field refuses reads nothing', () => {
    const doc = `query Small { viewer { sid } } query Big { services(first: 1000) ${page} }`;
    expect(cost(doc, {}, 'Small')).toBe(cost('{ viewer { sid } }'));
    expect(cost('{ __schema { types { name fields { name type { name ofType { name } } } } } }')).toBe(0);
    expect(cost(`{ services(first: 5000) ${page} }`)).toBe(cost(`{ services(first: 1) ${page} }`));
  });

  it('one parsed document reused (Yoga caches parses) is re-costed whenever a variable can change its cost', () => {
    const at = (doc: ReturnType<typeof parse>, variableValues: Record<string, unknown>) =>
      operationCost({ schema, document: doc, variableValues });
    const sized = parse(`query ($n: Int) { services(first: $n) ${page} }`);
    expect(at(sized, { n: 1 })).toBe(cost(`{ services(first: 1) ${page} }`));
    expect(at(sized, { n: 100 })).toBe(cost(`{ services(first: 100) ${page} }`));
    const ids = parse(`query ($ids: [ID!]!) { nodes(ids: $ids) { sid } }`);
    expect(at(ids, { ids: ['VA1', 'VA2', 'VA3'] })).toBeGreaterThan(at(ids, { ids: ['VA1'] })!);
    const included = parse(`query ($no: Boolean!) { services(first: 10) @include(if: $no) ${page} }`);
    expect(at(included, { no: true })).toBeGreaterThan(at(included, { no: false })!);
    // A variable the estimator never reads (a mutation's input) leaves the cost fixed: computed once.
    const login = parse('mutation ($input: CreateChallengeInput!) { createChallenge(input: $input) { sid status } }');
    const input = { factorSid: 'YF00000000000000000000000000000000' };
    expect(at(login, { input })).toBe(at(login, { input: { ...input, authPayload: '123456' } }));
    expect(at(login, {})).toBeUndefined(); // still refused when the variables do not fit
  });

  it('undefined when execution itself will refuse: unknown operation, variables that do not fit', () => {
    expect(cost('query A { viewer { sid } }', {}, 'B')).toBeUndefined();
    expect(cost(`query ($n: Int) { services(first: $n) ${page} }`, { n: 'many' })).toBeUndefined();
  });
});
