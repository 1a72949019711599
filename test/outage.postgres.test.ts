import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { CreateChallenge, CreateTotpFactor, Viewer, VerifyChallenge } from './support/documents.ts';
import { waitUntil, WAIT_MS } from './support/live.ts';
import { NO_NETWORK_DEPENDENCIES, enrol, since, startOutageApp, stats, type OutageApp } from './support/outage.ts';
import type { Tenant } from './support/app.ts';
import { databaseUnavailable } from '../src/db/unavailable.ts';
import type { CutMode } from './support/tcp-proxy.ts';

// docs/operations.md "Outages": with PostgreSQL unreachable, requests fail fast with a clear error and /readyz
// says 503; service resumes by itself when the link returns; no challenge is lost or approved twice.
// Deadlines here (support/outage.ts): connect 1000 ms, statement 1000 ms (client gives up at 1500).
const CONNECT_MS = 1_000;
const CLIENT_DEADLINE_MS = 1_500;
const SLACK_MS = 1_500; // scheduling on a shared 2-core box (load average 15-25 while other suites run)

describe.skipIf(NO_NETWORK_DEPENDENCIES)(
  'PostgreSQL outage (needs DATABASE_URL and REDIS_URL: embedded mode has no network link to cut)',
  () => {
    let t: OutageApp;
    let a: Tenant;
    const measured: Record<string, unknown> = {};

    beforeAll(async () => {
      t = await startOutageApp();
      a = await t.newAccount('Outage');
    }, 120_000);
    afterAll(async () => {
      console.log('PostgreSQL outage measurements:', JSON.stringify(measured));
      await t?.close();
    });

    /** Whether a request is a clean SERVICE_UNAVAILABLE: HTTP 503, Twilio 20503, Retry-After. */
    function expectUnavailable(r: { status: number; errors?: { extensions?: Record<string, unknown> }[]; data?: unknown }) {
      expect(r.status).toBe(503);
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', twilioCode: 20503, retryAfter: 5 });
    }

    for (const mode of ['refuse', 'blackhole'] as CutMode[]) {
      it(`${mode}: requests fail within the deadline as SERVICE_UNAVAILABLE (503), /readyz is 503, and service resumes on restore`, async () => {
        const f = await enrol(t, a);
        t.clock.advance(30_000);
        const pending = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
        const fresh = await t.newAccount('Uncached'); // never authenticated: its first request needs the database

        await t.pgProxy.cut(mode);
        onTestFinished(() => t.pgProxy.restore()); // a failed assertion must not leave the link cut for the next test
        const cutAt = performance.now();
        const failures: number[] = [];
        // Sequential and concurrent requests of every kind: reads, writes, the login path, and an
        // authentication that is not cached (the failure happens while building the context).
        for (let round = 0; round < 3; round++) {
          const results = await Promise.all([
            t.gql(Viewer, {}, a.auth),
            t.gql(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: f.code() } }, a.auth),
            t.gql(VerifyChallenge, { input: { challengeSid: pending.sid, authPayload: f.code() } }, a.auth),
            t.gql(Viewer, {}, fresh.auth),
          ]);
          for (const r of results) {
            expectUnavailable(r);
            failures.push(r.ms);
          }
        }
        // The REST face answers Twilio's error JSON with the same status and code.
        const restT0 = performance.now();
        const rest = await t.fetch(`/v2/Services/${f.serviceSid}`, { headers: { authorization: a.auth } });
        failures.push(since(restT0));
        expect(rest.status).toBe(503);
        expect(rest.headers.get('retry-after')).toBe('5');
        expect(await rest.json()).toMatchObject({ code: 20503, status: 503 });

        const readyT0 = performance.now();
        const ready = await t.fetch('/readyz');
        const readyMs = since(readyT0);
        expect(ready.status).toBe(503);
        expect(await ready.json()).toEqual({ status: 'unavailable', checks: { database: 'down', redis: 'up' } });
        expect(readyMs).toBeLessThan(CONNECT_MS + SLACK_MS);

        const s = stats(failures);
        // Refused: at once (measured; the bound only absorbs load). Black hole: a query on a pooled
        // connection waits the client deadline, a new connection the connect timeout; a request
        // fails at its first database call. Without the deadlines a black-holed request never ends.
        expect(s.max).toBeLessThan(CLIENT_DEADLINE_MS + SLACK_MS);

        await t.pgProxy.restore();
        const restoredAt = performance.now();
        await waitUntil(async () => (await t.gql(Viewer, {}, a.auth)).status === 200, WAIT_MS, 'a request to succeed after restore');
        const recoverMs = since(restoredAt);
        await waitUntil(async () => (await t.fetch('/readyz')).status === 200, WAIT_MS, '/readyz 200 after restore');
        // Every kind of request works again, on the same pool, without a restart.
        expect((await t.gql(Viewer, {}, fresh.auth)).status).toBe(200);
        const approved = await t.ok(VerifyChallenge, { input: { challengeSid: pending.sid, authPayload: f.code() } }, a.auth);
        expect(approved.verifyChallenge.status).toBe('APPROVED');
        measured[mode] = { failMs: s, readyzMs: readyMs, recoverMs, outageMs: since(cutAt) };
        expect(recoverMs).toBeLessThan(3_000);

        // What on-call sees: a warning naming the cause, never a masked INTERNAL_SERVER_ERROR.
        const log = t.logs.join('');
        expect(log).toContain('database unavailable: answering 503 SERVICE_UNAVAILABLE');
        expect(log).not.toContain('unexpected error');
      });
    }

    it('blackhole that heals with its flows forgotten: the pool sheds the dead connections and serves again', async () => {
      // A NAT or firewall that lost its state drops the old connections' packets for good: no
      // reset ever comes. Connections holding a timed-out query (transactions included) must be
      // discarded, not handed out again.
      const f = await enrol(t, a);
      const work = (i: number) => [
        t.gql(CreateTotpFactor, { input: { serviceSid: f.serviceSid, identity: f.identity, friendlyName: `Spare ${i}` } }, a.auth), // interactive transaction
        t.gql(Viewer, {}, a.auth),
      ];
      await Promise.all(Array.from({ length: 5 }, (_, i) => work(i)).flat()); // several pooled connections
      await t.pgProxy.cut('blackhole');
      onTestFinished(() => t.pgProxy.restore());
      for (const r of await Promise.all(Array.from({ length: 6 }, (_, i) => work(10 + i)).flat())) expectUnavailable(r);
      await t.pgProxy.restore({ resumeHeld: false });
      const restoredAt = performance.now();
      let failures = 0;
      let streak = 0;
      for (let i = 0; streak < 10; i++) {
        expect(i, `still failing after ${failures} failures`).toBeLessThan(40);
        const [created, viewer] = await Promise.all(work(100 + i));
        if (created!.status === 200 && viewer!.status === 200) streak++;
        else {
          streak = 0;
          failures++;
        }
      }
      // At most one failure per dead connection the pool still held (pool size 10).
      expect(failures).toBeLessThanOrEqual(10);
      measured.forgottenFlows = { failuresAfterRestore: failures, healthyAfterMs: since(restoredAt) };
    });

    it('a transaction cut mid-way does not leave its connection in the pool', async () => {
      const prisma = t.deps.prisma;
      const t0 = performance.now();
      const failed = await prisma
        .$transaction(async (tx) => {
          await tx.$queryRaw`SELECT 1`;
          await t.pgProxy.cut('blackhole');
          onTestFinished(() => t.pgProxy.restore());
          await tx.$queryRaw`SELECT 2`;
        })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(databaseUnavailable(failed)).toBeDefined();
      expect(since(t0)).toBeLessThan(CLIENT_DEADLINE_MS + SLACK_MS);
      // The flows open during the cut stay dead; the pool must not hand that connection out again
      // (Prisma's adapter releases a transaction's connection without an error, so only the client
      // dropping its socket keeps it out).
      await t.pgProxy.restore({ resumeHeld: false });
      // Other connections idle in the pool during the cut are forgotten flows too: each may cost one
      // failure (then it is dropped). After that, transactions and queries all succeed.
      let failures = 0;
      for (let ok = 0; ok < 6;) {
        const r = await Promise.all([prisma.$transaction(async (tx) => tx.$queryRaw`SELECT 1`), prisma.$queryRaw`SELECT 1`]).then(
          () => undefined,
          (err: unknown) => err,
        );
        if (r === undefined) ok++;
        else {
          expect(databaseUnavailable(r)).toBeDefined();
          expect(++failures).toBeLessThanOrEqual(10); // the pool size
          ok = 0;
        }
      }
    });

    it('concurrent approvals across cuts: each challenge approved at most once, one per code, nothing lost; overdue ones expire', async () => {
      const ROUNDS: CutMode[] = ['refuse', 'blackhole', 'refuse', 'blackhole'];
      const told = new Map<string, string>(); // challenge SID → last status a client was told
      const approvedTold = new Map<number, Set<string>>(); // round → SIDs a client was told APPROVED
      const outcomes: Record<string, number> = {};
      const factors: string[] = [];
      const steps: bigint[] = [];
      for (const [round, mode] of ROUNDS.entries()) {
        const f = await enrol(t, a);
        factors.push(f.factorSid);
        t.clock.advance(30_000); // a fresh code, unused by the enrolment
        const opened = await Promise.all(
          Array.from(
            { length: 6 },
            async () => (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge.sid,
          ),
        );
        for (const sid of opened) told.set(sid, 'PENDING');
        const code = f.code();
        steps.push(BigInt(Math.floor(t.clock.now().getTime() / 30_000)));
        approvedTold.set(round, new Set());
        const fire = () => [
          ...opened.flatMap((sid) => [1, 2].map(() => t.gql(VerifyChallenge, { input: { challengeSid: sid, authPayload: code } }, a.auth))),
          ...[1, 2, 3, 4].map(() => t.gql(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: code } }, a.auth)),
        ];
        const first = fire();
        // Cut while the first wave is in flight, restore while the second one is.
        await new Promise((r) => setTimeout(r, 5 + round * 7));
        await t.pgProxy.cut(mode);
        const second = fire();
        await new Promise((r) => setTimeout(r, 200));
        await t.pgProxy.restore();
        const third = fire();
        for (const r of await Promise.all([...first, ...second, ...third])) {
          const key = r.errors?.length ? String(r.errors[0]!.extensions?.code) : 'ok';
          outcomes[key] = (outcomes[key] ?? 0) + 1;
          // Allowed: success, an outage answer, or the domain's own refusals for a spent code / challenge.
          expect(['ok', 'SERVICE_UNAVAILABLE', 'CHALLENGE_ALREADY_RESPONDED', 'TOO_MANY_ATTEMPTS']).toContain(key);
          const c = r.data as
            { verifyChallenge?: { sid: string; status: string }; createChallenge?: { sid: string; status: string } } | null | undefined;
          const ch = c?.verifyChallenge ?? c?.createChallenge;
          if (ch) {
            told.set(ch.sid, ch.status);
            if (ch.status === 'APPROVED') approvedTold.get(round)!.add(ch.sid);
          }
        }
        // Service is back before the next round.
        await waitUntil(async () => (await t.gql(Viewer, {}, a.auth)).status === 200, WAIT_MS, 'recovery');
      }

      const rows = await t.direct.prisma.challenge.findMany({ where: { factorSid: { in: factors } } });
      const bySid = new Map(rows.map((c) => [c.sid, c]));
      // Nothing a client was told about is lost.
      for (const sid of told.keys()) expect(bySid.has(sid), `challenge ${sid} lost`).toBe(true);
      for (const [round, factorSid] of factors.entries()) {
        const approved = rows.filter((c) => c.factorSid === factorSid && c.status === 'approved');
        // One code, one time step: at most one approval per factor, however many requests raced (RFC 6238 §5.2).
        expect(approved.length).toBeLessThanOrEqual(1);
        // Whoever was told APPROVED holds the one approved row.
        for (const sid of approvedTold.get(round)!) expect(approved.map((c) => c.sid)).toEqual([sid]);
        const factor = await t.direct.prisma.factor.findUniqueOrThrow({ where: { sid: factorSid } });
        if (approved.length) expect(factor.lastUsedTimeStep).toBe(steps[round]);
      }
      // Every row is in a legal state.
      for (const c of rows) {
        expect(['pending', 'approved', 'expired']).toContain(c.status);
        if (c.status === 'approved') expect(c.dateResponded).not.toBeNull();
        else expect(c.dateResponded).toBeNull();
        expect(c.attempts).toBeLessThanOrEqual(5);
      }

      // Overdue pending ones are expired by reconciliation (interval 300 ms here), each exactly once.
      const pendingBefore = rows.filter((c) => c.status === 'pending').map((c) => c.sid);
      expect(pendingBefore.length).toBeGreaterThan(0);
      t.clock.advance(60 * 60_000);
      const t0 = performance.now();
      await waitUntil(
        async () => (await t.direct.prisma.challenge.count({ where: { factorSid: { in: factors }, status: 'pending' } })) === 0,
        WAIT_MS,
        'reconciliation to expire the overdue challenges',
      );
      const catchUpMs = since(t0);
      const after = await t.direct.prisma.challenge.findMany({ where: { factorSid: { in: factors } } });
      for (const c of after) expect(c.status).toBe(bySid.get(c.sid)!.status === 'approved' ? 'approved' : 'expired');
      const approvedRows = after.filter((c) => c.status === 'approved');
      // An approval can commit while its response is lost to the cut: the client then sees
      // CHALLENGE_ALREADY_RESPONDED on retry, never a second approval.
      const approvedUntold = approvedRows.filter((c) => ![...approvedTold.values()].some((s) => s.has(c.sid))).length;
      measured.concurrency = {
        approved: approvedRows.length,
        approvedUntold,
        requests: Object.values(outcomes).reduce((x, y) => x + y, 0),
        outcomes,
        rows: rows.length,
        reconcileCatchUpMs: catchUpMs,
      };
    });
  },
);
