import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/client.ts';
import { newSid } from '../src/domain/sid.ts';
import type { EventBus, VerityEvent } from '../src/events/index.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';
import { randomPrefix } from './support/random-prefix.ts';
import { createAccount } from '../src/services/accounts.ts';
import { verifyAuditTrail } from '../src/services/audit.ts';
import { createChallenge } from '../src/services/challenge-attempts.ts';
import { reconcileExpiry } from '../src/services/challenge-expiry.ts';
import type { Tenant } from '../src/services/context.ts';
import { createTotpFactor, verifyFactor } from '../src/services/factors.ts';
import { createService } from '../src/services/services.ts';
import { ADMIN_TOKEN, TEST_KEYS, basic, freshDatabase } from './support/app.ts';
import { CreateAccount, CreateChallenge, CreateService, CreateTotpFactor, VerifyFactor } from './support/documents.ts';
import { oathCode, unix } from './support/oath.ts';
import { listeningPort, runEntry, type Proc } from './support/process.ts';
import { WAIT_MS } from './support/live.ts';

// Expiry is durable (DESIGN.md: "the job only makes it durable and emits the event"): the delayed
// job lands on time with either back end, and reconciliation catches whatever the jobs missed —
// a server that was down, a Redis that lost its keys, a worker killed mid-batch — without ever
// transitioning a challenge twice. Real clock, real PostgreSQL/PGlite, real Redis, real processes.

const REDIS_URL = process.env.REDIS_URL;
const DATABASE_URL = process.env.DATABASE_URL;
/** The bound we hold expiry to: the row is EXPIRED and the event out within 2 s of expirationDate. */
const MAX_LAG_MS = 2_000;
const NEVER_MS = String(3_600_000); // a reconciliation interval that cannot fire during a test
/** A bound on 3,000-row drains, only so a hang fails: they take ~10 s on PGlite at load 15 and share the box with the restart scenario. */
const DRAIN_WAIT_MS = 120_000;

// ------------------------------------------------------------------ helpers

/** Rejects instead of hanging: every wait in this file is bounded. */
function within<T>(p: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const label = () => (typeof what === 'string' ? what : what());
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${label()}`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

interface Received {
  event: VerityEvent;
  at: number;
}

/** Subscribes to one account's events (as a GraphQL subscription would) and records when each arrives. */
function eventLog(bus: EventBus, accountSid: string) {
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  const it = bus.subscribe(accountSid)[Symbol.asyncIterator]();
  // The first next() runs synchronously and registers the listener: nothing published after this returns is missed.
  const pump = (async () => {
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      received.push({ event: r.value, at: Date.now() });
      for (const w of waiters) w();
    }
  })();
  const expiredEvents = () => received.filter((r) => r.event.type === 'challenge.expired');
  const sidOf = (r: Received) => ('challengeSid' in r.event ? r.event.challengeSid : '');
  return {
    received,
    /** challengeSid → how many 'challenge.expired' events it got. */
    expiredCounts(): Map<string, number> {
      const m = new Map<string, number>();
      for (const r of expiredEvents()) m.set(sidOf(r), (m.get(sidOf(r)) ?? 0) + 1);
      return m;
    },
    /** Resolves with challengeSid → receipt time once every sid has had its 'challenge.expired' event. */
    expired(sids: string[], ms: number): Promise<Map<string, number>> {
      const check = (): Map<string, number> | undefined => {
        const at = new Map<string, number>();
        for (const r of expiredEvents()) if (!at.has(sidOf(r))) at.set(sidOf(r), r.at);
        return sids.every((s) => at.has(s)) ? at : undefined;
      };
      let waiter: (() => void) | undefined;
      const done = new Promise<Map<string, number>>((resolve) => {
        waiter = () => {
          const at = check();
          if (at) resolve(at);
        };
        waiters.add(waiter);
        waiter();
      });
      return within(done, ms, () => `'challenge.expired' for ${sids.length} challenge(s); got ${expiredEvents().length}`).finally(() =>
        waiters.delete(waiter!),
      );
    },
    /**
     * Resolves once everything already published has been consumed. The in-process bus delivers in
     * microtasks, so a macrotask turn that brings nothing new means the subscriber has caught up.
     */
    async settled(maxTurns = 1_000): Promise<void> {
      for (let turn = 0; turn < maxTurns; turn++) {
        const n = received.length;
        await new Promise((r) => setImmediate(r));
        if (received.length === n) return;
      }
      throw new Error(`events still arriving after ${maxTurns} turns`);
    },
    async close() {
      await it.return?.();
      await pump;
    },
  };
}

/** Waits for a line of a spawned process's output; a failure names the signal that ended it, if any. */
async function started(p: Proc, re: RegExp, ms = 90_000) {
  try {
    return await p.waitFor(re, ms);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n(exit code ${p.child.exitCode}, signal ${p.child.signalCode})`, { cause: e });
  }
}

const redisPrefixes: string[] = [];
afterAll(async () => {
  if (!REDIS_URL || redisPrefixes.length === 0) return;
  const redis = new Redis(REDIS_URL);
  for (const p of redisPrefixes) await deleteKeys(redis, p);
  await redis.quit();
});

/** What "Redis lost our data" means here: every key of this run's prefix, and nobody else's. */
async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  const keys = await redis.keys(`${prefix}:*`);
  return keys.length ? redis.del(...keys) : 0;
}

interface Live {
  runtime: Runtime;
  prefix: string;
  tenant: Tenant;
  factorSid: string;
  close(): Promise<void>;
}

/**
 * A runtime on the real clock (startTestApp's TestClock never moves by itself) and a fresh
 * database, with one account and a VERIFIED factor enrolled through the services.
 */
async function liveRuntime(env: Record<string, string> = {}): Promise<Live> {
  const config = loadConfig({
    VERITY_ENCRYPTION_KEYS: TEST_KEYS,
    VERITY_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...env,
  });
  const prefix = randomPrefix();
  redisPrefixes.push(prefix);
  const runtime = await openRuntime(config, { db: await freshDatabase(), redisPrefix: prefix });
  const { deps } = runtime;
  const { account } = await createAccount(deps, { kind: 'operator' }, { friendlyName: 'Expiry' });
  const tenant: Tenant = { deps, accountSid: account.sid };
  const service = await createService(tenant, { friendlyName: 'Expiry' });
  const { factor, binding } = await createTotpFactor(tenant, {
    serviceSid: service.sid,
    identity: 'expiry-user-0001',
    friendlyName: 'Phone',
  });
  const verified = await verifyFactor(tenant, { factorSid: factor.sid, authPayload: oathCode(binding.secret, {}, unix(deps.now())) });
  expect(verified.status).toBe('verified');
  return { runtime, prefix, tenant, factorSid: factor.sid, close: () => runtime.close() };
}

async function createExpiring(live: Live, count: number, firstInMs: number, stepMs = 100) {
  const base = Date.now() + firstInMs;
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      createChallenge(live.tenant, { factorSid: live.factorSid, expirationDate: new Date(base + i * stepMs) }),
    ),
  );
}

/**
 * Runs the expiry path once, untimed, before a timed measurement: the first expiry in a process pays
 * one-off costs (Prisma compiling each query shape, PGlite and BullMQ first calls) that at load 15
 * pushed a cold first lag past 2 s (2,042 ms, the later ones of the same batch far below). The bound
 * is about the delayed job landing on time, which a warm process shows; the cold start is not it.
 */
async function warmUp(live: Live) {
  const log = eventLog(live.runtime.deps.events, live.tenant.accountSid);
  const [c] = await createExpiring(live, 1, 300);
  await log.expired([c!.sid], WAIT_MS);
  await log.close();
}

/** Every created challenge: expired event at most MAX_LAG_MS after its expirationDate, and the row EXPIRED. */
async function expectExpiredOnTime(live: Live, log: ReturnType<typeof eventLog>, challenges: { sid: string; expirationDate: Date }[]) {
  const last = Math.max(...challenges.map((c) => c.expirationDate.getTime()));
  const at = await log.expired(
    challenges.map((c) => c.sid),
    last - Date.now() + MAX_LAG_MS + 1_000, // past the bound the lag check below fails anyway; the extra second is for the message
  );
  const lags = challenges.map((c) => at.get(c.sid)! - c.expirationDate.getTime());
  for (const lag of lags) {
    expect(lag).toBeGreaterThanOrEqual(0); // never before its time
    expect(lag, `lags (ms): ${lags.join(', ')}`).toBeLessThan(MAX_LAG_MS);
  }
  const rows = await live.runtime.deps.prisma.challenge.findMany({ where: { sid: { in: challenges.map((c) => c.sid) } } });
  expect(rows).toHaveLength(challenges.length);
  for (const r of rows) {
    expect(r.status).toBe('expired'); // durable, not just "reads as expired"
    expect(r.dateUpdated.getTime()).toBeGreaterThanOrEqual(r.expirationDate.getTime());
  }
  return lags;
}

// ------------------------------------------------------------------ 1. on time, both back ends

const backends: { kind: 'local' | 'bullmq'; env: Record<string, string> }[] = [{ kind: 'local', env: {} }];
if (REDIS_URL) backends.push({ kind: 'bullmq', env: { REDIS_URL } });

describe.each(backends)('expiry on time with the $kind back end', ({ kind, env }) => {
  let live: Live;
  beforeAll(async () => {
    // Reconciliation is pushed out of reach: only the per-challenge delayed job can expire these.
    live = await liveRuntime({ ...env, VERITY_RECONCILE_INTERVAL_MS: NEVER_MS });
    await live.runtime.startWorkers();
    await warmUp(live);
  });
  afterAll(() => live?.close());

  it('5 challenges expiring in ~1.5 s: each gets challenge.expired and an EXPIRED row within 2 s of its expirationDate', async () => {
    expect(live.runtime.deps.jobs.kind).toBe(kind);
    const log = eventLog(live.runtime.deps.events, live.tenant.accountSid);
    const challenges = await createExpiring(live, 5, 1_500);
    expect(challenges.every((c) => c.status === 'pending')).toBe(true);
    const lags = await expectExpiredOnTime(live, log, challenges);
    expect(log.expiredCounts().size).toBe(5);
    expect([...log.expiredCounts().values()].every((n) => n === 1)).toBe(true);
    await log.close();
    console.info(`[expiry:${kind}] lag after expirationDate (ms): ${lags.join(', ')}`);
  });
});

// ------------------------------------------------------------------ 2. Redis loses every key mid-run

describe.skipIf(!REDIS_URL)('Redis loses every BullMQ key mid-run', () => {
  let live: Live;
  let redis: Redis;
  beforeAll(async () => {
    live = await liveRuntime({ REDIS_URL: REDIS_URL!, VERITY_RECONCILE_INTERVAL_MS: '500' });
    await live.runtime.startWorkers();
    await warmUp(live);
    redis = new Redis(REDIS_URL!);
  });
  afterAll(async () => {
    await live?.close();
    await redis?.quit();
  });

  it('challenges whose delayed jobs (and the reconciliation scheduler) were deleted still end EXPIRED within 2 s', async () => {
    const { jobs } = live.runtime.deps;
    const log = eventLog(live.runtime.deps.events, live.tenant.accountSid);
    const challenges = await createExpiring(live, 5, 2_000);
    // Their delayed jobs exist (enqueued just after each answer, so wait for the last one)…
    await vi.waitFor(async () => expect(await jobs.pendingCount()).toBeGreaterThanOrEqual(5), { timeout: 5_000, interval: 20 });
    expect(await deleteKeys(redis, live.prefix)).toBeGreaterThan(0); // …and now they do not (FLUSHALL, scoped to this run)
    const lags = await expectExpiredOnTime(live, log, challenges);
    await log.close();
    console.info(`[expiry:redis-flushed] lag after expirationDate (ms): ${lags.join(', ')}`);
  });
});

// ------------------------------------------------------------------ 3. the server was down at expiry time

/** POSTs one typed document to a running server; fails the test on any GraphQL error. */
async function post<R, V>(port: number, doc: TypedDocumentNode<R, V>, variables: V, authorization: string): Promise<R> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({ query: print(doc), variables }),
  });
  const body = (await res.json()) as { data?: R; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

interface Store {
  env: Record<string, string>;
  /** Reads the challenge rows straight from the database (never through the API, which shows overdue rows as EXPIRED anyway). */
  rows(sids: string[]): Promise<{ sid: string; status: string; expirationDate: Date; dateUpdated: Date }[]>;
  close(): Promise<void>;
}

const stores: { mode: string; skip: boolean; open(): Promise<Store> }[] = [
  {
    // `npm start` as shipped: PGlite in a data dir, in-process jobs. Only one process may open the
    // data dir, so rows are read while the server is down. (Against PostgreSQL the variant below
    // runs instead: one restart scenario per run keeps the file well under a minute.)
    mode: 'embedded',
    skip: !!DATABASE_URL,
    async open() {
      const dataDir = mkdtempSync(join(tmpdir(), 'verity-expiry-'));
      // Start from the migrated snapshot instead of an empty dir: saves the server initdb + migrations (~8 s).
      const seeded = await PGlite.create(join(dataDir, 'pgdata'), { loadDataDir: new Blob([await readFile(inject('pgliteSnapshot')!)]) });
      await seeded.close();
      return {
        env: { VERITY_DATA_DIR: dataDir, DATABASE_URL: '' },
        async rows(sids) {
          const db = await openDatabase({ dataDir, migrate: false });
          try {
            return await db.prisma.challenge.findMany({ where: { sid: { in: sids } } });
          } finally {
            await db.close();
          }
        },
        close: async () => rmSync(dataDir, { recursive: true, force: true }),
      };
    },
  },
  {
    mode: 'postgres',
    skip: !DATABASE_URL,
    async open() {
      const db = await freshDatabase();
      return {
        env: { DATABASE_URL: db.url! },
        rows: (sids) => db.prisma.challenge.findMany({ where: { sid: { in: sids } } }),
        close: () => db.close(),
      };
    },
  },
];

// The two slow scenarios (real processes here, 3,000-row drains below) run side by side: each
// waits mostly on something else (a child process, the database), and the file stays well under a
// minute. The timing-sensitive cases above run alone, before them.
describe.concurrent.each(stores)('restart durability ($mode, real processes)', ({ mode, skip, open }) => {
  const procs: Proc[] = [];
  let store: Store | undefined;
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await store?.close();
  });

  it.skipIf(skip)(
    'challenges pending when the server stops are EXPIRED by reconciliation when it starts after their expiry',
    { timeout: 240_000 },
    async ({ expect }) => {
      store = await open();
      const env = {
        ...store.env,
        VERITY_ENCRYPTION_KEYS: TEST_KEYS,
        VERITY_ADMIN_TOKEN: ADMIN_TOKEN,
        REDIS_URL: '', // in-process jobs: everything scheduled dies with the process, which is the point
        PORT: '0', // each process binds a port of its own and logs it (listeningPort)
        VERITY_RUN_WORKERS: 'true',
        VERITY_RECONCILE_INTERVAL_MS: NEVER_MS, // only the start-up run can do it
        LOG_LEVEL: 'info',
      };
      // The first process schedules the expiry jobs but runs no worker: they die with it unrun, as if it
      // stopped before they were due, however long its stop takes on a loaded machine (with a worker,
      // a stop slower than the expiry would let that worker expire them first).
      const first = runEntry('src/main.ts', { ...env, VERITY_RUN_WORKERS: 'false' });
      procs.push(first);
      await started(first, /Verity listening/);
      const port = await listeningPort(first);

      const { createAccount: created } = await post(port, CreateAccount, { input: { friendlyName: 'Restart' } }, `Bearer ${ADMIN_TOKEN}`);
      const auth = basic(created.account.sid, created.authToken);
      const { createService: service } = await post(port, CreateService, { input: { friendlyName: 'Restart' } }, auth);
      const enrol = { serviceSid: service.sid, identity: 'restart-user-01', friendlyName: 'Phone' };
      const { createTotpFactor: f } = await post(port, CreateTotpFactor, { input: enrol }, auth);
      const code = oathCode(f.binding.secret, {}, unix(new Date()));
      expect((await post(port, VerifyFactor, { input: { factorSid: f.factor.sid, authPayload: code } }, auth)).verifyFactor.status).toBe(
        'VERIFIED',
      );
      // Room for the three creations (a past expirationDate is refused): a fresh process's first
      // requests pay its cold start, and at load 15 three of them took over 3 s. Nothing can expire the
      // challenges before the stop (no worker), and the stop and the row check take most of it anyway.
      const expiresAt = Date.now() + 10_000;
      const challenges = await Promise.all(
        [0, 1, 2].map(async (i) => {
          const input = { factorSid: f.factor.sid, expirationDate: new Date(expiresAt + i * 50).toISOString() };
          return (await post(port, CreateChallenge, { input }, auth)).createChallenge;
        }),
      );
      const sids = challenges.map((c) => c.sid);
      expect(challenges.every((c) => c.status === 'PENDING')).toBe(true);

      expect(await first.stop()).toBe(0);
      const stoppedAt = Date.now();
      const before = await store.rows(sids);
      expect(before.map((r) => r.status)).toEqual(['pending', 'pending', 'pending']); // stopped while they were pending
      const lastExpiry = Math.max(...challenges.map((c) => new Date(c.expirationDate).getTime()));
      // Nothing runs now — that is the scenario — so time has to pass by itself.
      await sleep(Math.max(0, lastExpiry - Date.now()) + 100);

      const startedAt = Date.now();
      const second = runEntry('src/main.ts', env);
      procs.push(second);
      // Reconciliation logs what it did: that line is the event to wait for.
      await started(second, /reconciliation expired overdue challenges/);
      const reconciledMs = Date.now() - startedAt;
      expect(second.output()).toMatch(/"expired":3\b/);
      await second.waitFor(/Verity listening/, 90_000);
      expect(await second.stop()).toBe(0);

      const after = await store.rows(sids);
      expect(after).toHaveLength(3);
      for (const r of after) {
        expect(r.status).toBe('expired');
        expect(r.dateUpdated.getTime()).toBeGreaterThan(stoppedAt); // written by the second process
      }
      console.info(`[expiry:restart:${mode}] reconciled ${reconciledMs} ms after the restart was spawned`);
    },
  );
});

// ------------------------------------------------------------------ 4. concurrent and killed drains

/** `count` overdue pending challenges on the live factor, inserted directly (creation would refuse a past expirationDate). */
async function insertOverdue(live: Live, count: number): Promise<string[]> {
  const { prisma } = live.runtime.deps;
  const factor = await prisma.factor.findUniqueOrThrow({ where: { sid: live.factorSid } });
  const now = Date.now();
  const rows = Array.from({ length: count }, (_, i) => ({
    sid: newSid('challenge'),
    accountSid: factor.accountSid,
    serviceSid: factor.serviceSid,
    entitySid: factor.entitySid,
    identity: factor.identity,
    factorSid: factor.sid,
    expirationDate: new Date(now - 60_000 - i),
    dateCreated: new Date(now - 120_000),
    dateUpdated: new Date(now - 120_000),
  }));
  await prisma.challenge.createMany({ data: rows });
  return rows.map((r) => r.sid);
}

/**
 * Resolves once no other session on this database is running a statement (the SIGKILLed worker's
 * backend has finished). PostgreSQL has no event for that: a bounded poll of pg_stat_activity.
 */
async function backendsSettled(live: Live, ms = 10_000) {
  const { prisma } = live.runtime.deps;
  const deadline = Date.now() + ms;
  for (;;) {
    const [row] = await prisma.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM pg_stat_activity
      WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'`;
    if (Number(row?.n ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: another session is still busy on the test database`);
    await sleep(20);
  }
}

async function statusCounts(live: Live, sids: string[]) {
  const groups = await live.runtime.deps.prisma.challenge.groupBy({ by: ['status'], where: { sid: { in: sids } }, _count: { _all: true } });
  return Object.fromEntries(groups.map((g) => [g.status, g._count._all]));
}

describe.concurrent('reconciliation drains: no challenge transitioned twice', () => {
  describe.sequential('one database, one drain scenario at a time', () => {
    let live: Live;
    beforeAll(async () => {
      // Workers are not started: the drains below are the only thing expiring anything.
      live = await liveRuntime({ VERITY_RECONCILE_INTERVAL_MS: NEVER_MS });
    });
    afterAll(() => live?.close());

    // Exactly once is proven from the transitions themselves: reconcileExpiry counts the rows its
    // conditional UPDATE … RETURNING changed. All N rows end EXPIRED and the counts add up to N, so no
    // row was changed twice (a second change would leave some other row unchanged). The events must
    // agree: a challenge is never announced expired twice. (The event bus may drop events for a
    // subscriber that falls behind — src/events — so events alone cannot prove "at least once".)

    it(
      'four concurrent drains (batches of 200) over 3,000 overdue challenges: each expired exactly once, never announced twice',
      { timeout: 240_000 },
      async ({ expect }) => {
        const N = 3_000;
        const sids = await insertOverdue(live, N);
        const all = new Set(sids);
        const log = eventLog(live.runtime.deps.events, live.tenant.accountSid);
        const t0 = Date.now();
        const drained = await within(
          Promise.all([0, 1, 2, 3].map(() => reconcileExpiry(live.runtime.deps, 200))),
          DRAIN_WAIT_MS,
          'four drains',
        );
        const ms = Date.now() - t0;
        expect(drained.reduce((a, b) => a + b, 0)).toBe(N);
        expect(await statusCounts(live, sids)).toEqual({ expired: N });
        await log.settled();
        const counts = log.expiredCounts();
        expect(counts.size).toBeGreaterThan(0);
        expect([...counts.keys()].filter((s) => !all.has(s))).toEqual([]);
        expect([...counts.entries()].filter(([, n]) => n !== 1)).toEqual([]); // nobody twice
        expect(await reconcileExpiry(live.runtime.deps, 200)).toBe(0); // and nothing left
        // Each drain announces a batch while its next UPDATE runs (pipelined): still one audit row per
        // challenge, and four drains' batch appends interleaved on one chain still verify.
        const audited = await live.runtime.deps.prisma.auditEvent.groupBy({
          by: ['challengeSid'],
          where: { accountSid: live.tenant.accountSid, type: 'challenge.expired', challengeSid: { in: sids } },
          _count: { _all: true },
        });
        expect(audited.length).toBe(N);
        expect(audited.filter((a) => a._count._all !== 1)).toEqual([]);
        expect(await verifyAuditTrail(live.runtime.deps.prisma, { accountSid: live.tenant.accountSid })).toMatchObject({ ok: true });
        await log.close();
        console.info(
          `[expiry:drain] ${N} rows by 4 concurrent drains in ${ms} ms, split ${drained.join('/')}; subscriber got ${counts.size} events`,
        );
      },
    );

    it.skipIf(!DATABASE_URL)(
      'a drain worker SIGKILLed mid-drain: the next drains finish the rest and never re-expire what it did',
      { timeout: 240_000 },
      async ({ expect }) => {
        const N = 3_000;
        const sids = await insertOverdue(live, N);
        const all = new Set(sids);
        const worker = runEntry('test/support/expiry-drain.ts', {
          DATABASE_URL: (live.runtime.db as Database & { url?: string }).url!, // the clone this runtime uses
          VERITY_ENCRYPTION_KEYS: TEST_KEYS,
          REDIS_URL: '',
          LOG_LEVEL: 'warn',
          DRAIN_ACCOUNT_SID: live.tenant.accountSid,
          DRAIN_BATCH: '100',
        });
        try {
          await started(worker, /^expired YC/m); // its first batch has committed; later ones are in flight
          worker.child.kill('SIGKILL');
          await within(worker.exited, 10_000, 'the killed worker to exit');
        } finally {
          await worker.stop('SIGKILL');
        }
        expect(worker.child.signalCode).toBe('SIGKILL');
        expect(worker.output()).not.toMatch(/drain done/); // killed mid-drain, not after it
        // Its statement in flight ends on the server side (rolled back, or committed: autocommit finishes a
        // statement whose client is gone) only when PostgreSQL notices: read its work after that, never before.
        await backendsSettled(live);

        // What the killed worker reported is a subset of what it committed (a SIGKILL can eat the last lines).
        const printed = new Set([...worker.output().matchAll(/^expired (YC[0-9a-f]{32})$/gm)].map((m) => m[1]!));
        const doneByWorker = new Set(
          (
            await live.runtime.deps.prisma.challenge.findMany({ where: { sid: { in: sids }, status: 'expired' }, select: { sid: true } })
          ).map((r) => r.sid),
        );
        expect(printed.size).toBeGreaterThan(0);
        expect([...printed].filter((s) => !doneByWorker.has(s) || !all.has(s))).toEqual([]);
        expect(doneByWorker.size).toBeLessThan(N); // something was left for the survivors

        const log = eventLog(live.runtime.deps.events, live.tenant.accountSid);
        const drained = await within(Promise.all([0, 1].map(() => reconcileExpiry(live.runtime.deps, 200))), DRAIN_WAIT_MS, 'two drains');
        // The survivors changed exactly the rows the killed worker had not: none of its rows twice.
        expect(drained.reduce((a, b) => a + b, 0)).toBe(N - doneByWorker.size);
        expect(await statusCounts(live, sids)).toEqual({ expired: N });
        await log.settled();
        const counts = log.expiredCounts();
        expect(counts.size).toBeGreaterThan(0);
        expect([...counts.keys()].filter((s) => doneByWorker.has(s) || !all.has(s))).toEqual([]); // never re-announced what the killed worker did
        expect([...counts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
        expect(await reconcileExpiry(live.runtime.deps, 200)).toBe(0); // a later drain finds nothing left
        await log.close();
        console.info(
          `[expiry:kill] killed worker committed ${doneByWorker.size} (reported ${printed.size}); survivors expired ${N - doneByWorker.size}; subscriber got ${counts.size} events`,
        );
      },
    );
  });
});
