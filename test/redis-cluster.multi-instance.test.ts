import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { listen, type HttpServer } from '../src/http.ts';
import { openRedis } from '../src/redis.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';
import { createApp, type App } from '../src/server.ts';
import { basic, readyCluster, startTestApp, type GqlResult, type TestApp, type Tenant } from './support/app.ts';
import { ChallengeUpdated, CreateChallenge, VerifyChallenge } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { next, waitUntil, wsClient, WAIT_MS } from './support/live.ts';

// VERITY_REDIS_CLUSTER=true on a real 3-master Redis Cluster (scripts/redis-cluster.sh, started by
// .ci/run): two API instances and one worker, each with its own Redis clients, on one PostgreSQL
// database and one prefix. Jobs, sharded pub/sub, rate limits and the failed-auth budget all go
// through the cluster. In-process instances: no child process to spawn, the file stays fast.

const clusterUrl = process.env.VERITY_TEST_REDIS_CLUSTER_URL;
const databaseUrl = process.env.DATABASE_URL;

describe('VERITY_REDIS_CLUSTER: REDIS_URL as seed nodes', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
  };

  it('accepts comma-separated redis://host:port (and rediss://, credentials, [IPv6]) seed nodes', () => {
    const c = loadConfig({
      VERITY_REDIS_CLUSTER: 'true',
      REDIS_URL: 'redis://10.0.0.1:7000, rediss://u:p@[::1]:7001,redis://r.example:7002/',
    });
    expect(c.redisCluster).toBe(true);
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379/2' }).redisCluster).toBe(false);
  });

  it('refuses a node list without the setting, the setting without nodes, and a node without a port or with a database', () => {
    expect(problems({ REDIS_URL: 'redis://a:1,redis://b:2' })).toEqual([
      'REDIS_URL: a comma-separated list of nodes needs VERITY_REDIS_CLUSTER=true',
    ]);
    expect(problems({ VERITY_REDIS_CLUSTER: 'true' })).toEqual([
      'VERITY_REDIS_CLUSTER: needs REDIS_URL (comma-separated redis://host:port seed nodes)',
    ]);
    const bad = ['REDIS_URL: with VERITY_REDIS_CLUSTER=true, must be comma-separated redis://host:port or rediss://host:port seed nodes'];
    expect(problems({ VERITY_REDIS_CLUSTER: 'true', REDIS_URL: 'redis://a:1,redis://b' })).toEqual(bad);
    expect(problems({ VERITY_REDIS_CLUSTER: 'true', REDIS_URL: 'redis://a:7000/2' })).toEqual(bad);
    expect(problems({ VERITY_REDIS_CLUSTER: 'yes', REDIS_URL: 'redis://a:1' })[0]).toMatch(/^VERITY_REDIS_CLUSTER: /);
  });
});

describe.skipIf(!clusterUrl || !databaseUrl)('on a 3-master Redis Cluster: two API instances and a worker', () => {
  let a: TestApp; // instance A (in-process requests)
  let b: { runtime: Runtime; app: App; http: HttpServer }; // instance B (its own Redis clients; WebSockets over HTTP)
  let worker: Runtime;
  let cluster: Cluster; // the test's own view of the cluster
  let tenant: Tenant;

  beforeAll(async () => {
    a = await startTestApp({
      REDIS_URL: clusterUrl!,
      VERITY_REDIS_CLUSTER: 'true',
      VERITY_RUN_WORKERS: 'false',
      VERITY_RECONCILE_INTERVAL_MS: '3600000', // expiry must come from the delayed job, not the sweep
      VERITY_RATE_LIMIT_ACCOUNT_PER_SECOND: '5',
      VERITY_RATE_LIMIT_ACCOUNT_BURST: '20',
      VERITY_RATE_LIMIT_ACCOUNT_BURST_WINDOW_S: '60',
      VERITY_RATE_LIMIT_AUTH_FAILURES: '2',
      VERITY_RATE_LIMIT_AUTH_WINDOW_S: '60',
    });
    const shared = { db: { ...a.db, close: async () => {} }, now: a.clock.now, redisPrefix: a.runtime.redisPrefix };
    const [rtB, rtW] = await Promise.all([openRuntime(a.config, shared), openRuntime(a.config, shared)]);
    const appB = createApp(rtB.deps);
    b = { runtime: rtB, app: appB, http: await listen(appB, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10 }) };
    worker = rtW;
    await worker.startWorkers();
    cluster = await readyCluster(openRedis({ url: clusterUrl!, cluster: true }) as Cluster);
    tenant = await a.newAccount('Cluster');
  });

  afterAll(async () => {
    await b?.http.close();
    await Promise.all([b?.runtime.close(), worker?.close()]);
    cluster?.disconnect();
    await a?.close();
  });

  async function gqlOn<R, V>(app: App, doc: TypedDocumentNode<R, V>, variables: V, authorization: string): Promise<GqlResult<R>> {
    const res = await app.fetch('http://verity.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ query: print(doc), variables }),
    });
    return { ...((await res.json()) as GqlResult<R>), status: res.status };
  }

  /** SSUBSCRIBE'd clients of a shard channel: asked of every master (only the slot's owner counts any). */
  async function shardSubscribers(channel: string): Promise<number> {
    const counts = await Promise.all(
      cluster.nodes('master').map(async (n) => Number(((await n.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number])[1])),
    );
    return counts.reduce((x, y) => x + y, 0);
  }

  it('/readyz on each instance pings every master of the cluster', async () => {
    for (const deps of [a.deps, b.runtime.deps, worker.deps])
      expect(await deps.ready()).toEqual({ status: 'ready', checks: { database: 'up', redis: 'up' } });
    expect(cluster.nodes('master')).toHaveLength(3);
  });

  it('a subscriber on B sees an approval made on A and the expiry done by the worker, over sharded pub/sub', async () => {
    const f = await verifiedFactor(a, tenant);
    const client = wsClient(b.http.port, { authorization: tenant.auth });
    try {
      const updates = client.iterate({ query: print(ChallengeUpdated), variables: { serviceSid: f.serviceSid } })[Symbol.asyncIterator]();
      const first = updates.next();
      const channel = `${a.runtime.redisPrefix}:events:${tenant.sid}`;
      await waitUntil(async () => (await shardSubscribers(channel)) >= 1, WAIT_MS, 'B listening on the shard channel');
      // Classic pub/sub has no subscriber: the bus is on SSUBSCRIBE only.
      expect(Number(((await cluster.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1])).toBe(0);

      const c1 = (await a.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, tenant.auth)).createChallenge;
      await a.ok(VerifyChallenge, { input: { challengeSid: c1.sid, authPayload: f.code() } }, tenant.auth);
      const expiresAt = new Date(a.clock.now().getTime() + 1_000);
      const c2 = (await a.ok(CreateChallenge, { input: { factorSid: f.factorSid, expirationDate: expiresAt.toISOString() } }, tenant.auth))
        .createChallenge;

      type Update = { data: { challengeUpdated: { sid: string; status: string } } };
      const seen = [((await first).value as Update).data.challengeUpdated];
      for (let i = 0; i < 2; i++) seen.push(((await next(updates)) as Update).data.challengeUpdated);
      // The delayed job waits 1 s in real time; once c2's creation was seen (a subscriber re-reads
      // the challenge on the shared clock), the clock passes its expiry. A job that fired before
      // that finds it not yet due and re-enqueues itself for the expiry.
      a.clock.advance(1_000);
      seen.push(((await next(updates)) as Update).data.challengeUpdated);
      expect(seen.map((c) => [c.sid, c.status])).toEqual([
        [c1.sid, 'PENDING'],
        [c1.sid, 'APPROVED'],
        [c2.sid, 'PENDING'],
        [c2.sid, 'EXPIRED'],
      ]);
      expect((await a.db.prisma.challenge.findUniqueOrThrow({ where: { sid: c2.sid } })).status).toBe('expired');
      // BullMQ's keys share the slot of the hash tag `{prefix}`; none sit under the plain prefix.
      const prefix = a.runtime.redisPrefix;
      expect(await cluster.exists(`{${prefix}}:verity-jobs:meta`)).toBe(1);
      expect(await cluster.exists(`${prefix}:verity-jobs:meta`)).toBe(0);
    } finally {
      await client.dispose();
    }
  });

  it('the same code sent at once to both instances (verify and create-with-code mixed) is approved exactly once', async () => {
    const f = await verifiedFactor(a, tenant);
    const apps = [a.app, b.app];
    const pending: string[] = [];
    for (let i = 0; i < 4; i++)
      pending.push((await a.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, tenant.auth)).createChallenge.sid);
    const code = f.code();
    const results = await Promise.all([
      ...pending.map((challengeSid, i) =>
        gqlOn(apps[i % 2]!, VerifyChallenge, { input: { challengeSid, authPayload: code } }, tenant.auth),
      ),
      ...[0, 1, 2, 3].map((i) =>
        gqlOn(apps[i % 2]!, CreateChallenge, { input: { factorSid: f.factorSid, authPayload: code } }, tenant.auth),
      ),
    ]);
    const approved = results.filter((r) => {
      const d = r.data as { verifyChallenge?: { status: string }; createChallenge?: { status: string } } | null;
      return (d?.verifyChallenge ?? d?.createChallenge)?.status === 'APPROVED';
    });
    expect(approved).toHaveLength(1);
    expect(await a.db.prisma.challenge.count({ where: { factorSid: f.factorSid, status: 'approved' } })).toBe(1);
    for (const r of results) if (r.errors) expect(r.errors[0]!.extensions?.code).toMatch(/TOO_MANY_ATTEMPTS|CHALLENGE_ALREADY_RESPONDED/);
  });

  it('the account bucket is one across instances: alternating A and B, 5/s + 20 burst is spent once, not twice', async () => {
    const c = await a.newAccount('Bucket');
    const viewer = (app: App) =>
      app.fetch('http://verity.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: c.auth },
        body: JSON.stringify({ query: '{ viewer { sid } }' }),
      });
    const since = performance.now();
    let ok = 0;
    let limited: Response | undefined;
    for (let i = 0; i < 100 && !limited; i++) {
      const res = await viewer(i % 2 ? b.app : a.app);
      if (res.status === 429) limited = res;
      else {
        expect(res.status).toBe(200);
        ok++;
      }
      await res.body?.cancel();
    }
    const seconds = (performance.now() - since) / 1000;
    expect(limited, 'no 429 within 100 requests').toBeDefined();
    expect(ok).toBeGreaterThanOrEqual(25);
    // Separate buckets would let 50 through before the first refusal; one lets 25 plus 5 per second started.
    expect(ok, `${seconds.toFixed(1)} s`).toBeLessThanOrEqual(25 + 5 * Math.ceil(seconds));
  });

  // Last: from here on the address is refused for the window (in-process requests share the address "local").
  it('failed authentications on A and on B spend one budget: the right token is then refused on both', async () => {
    const wrong = basic(tenant.sid, '0'.repeat(64));
    expect(
      (await gqlOn(a.app, CreateChallenge, { input: { factorSid: 'YF' + '0'.repeat(32) } }, wrong)).errors?.[0]?.extensions?.code,
    ).toBe('UNAUTHENTICATED');
    expect(
      (await gqlOn(b.app, CreateChallenge, { input: { factorSid: 'YF' + '0'.repeat(32) } }, wrong)).errors?.[0]?.extensions?.code,
    ).toBe('UNAUTHENTICATED');
    for (const app of [a.app, b.app]) {
      const blocked = await gqlOn(app, CreateChallenge, { input: { factorSid: 'YF' + '0'.repeat(32) } }, tenant.auth);
      expect(blocked.status).toBe(429);
      expect(blocked.errors?.[0]?.extensions?.code).toBe('TOO_MANY_ATTEMPTS');
    }
  });
});
