import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createSchema, createYoga, type Plugin } from 'graphql-yoga';
import { executionDeadline } from './graphql-limits.ts';

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
      const r = await yoga.fetch('http://verity.test/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ hello }"}' });
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
        resolvers: { Query: { slow: (_p, _a, ctx: { request: Request }) => (started(), new Promise<string>((resolve) => ctx.request.signal.addEventListener('abort', () => resolve('late')))) } },
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
    const answer = Promise.resolve(yoga.fetch('http://verity.test/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ slow }"}', signal: client.signal })).catch((e: unknown) => e);
    await running;
    client.abort(new Error('client gone'));
    await answer;
    expect(seen[0]!.deref()?.aborted).toBe(true);
  });
});
