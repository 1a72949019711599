// `npm run soak [-- --duration 10m] [--rate 10] [--embedded] [--out file]` (docs/operations.md "Soak")
//
// Starts Verity as child processes (API + BullMQ worker on PostgreSQL + Redis, or one embedded
// process), seeds it, and drives a fixed, moderate, mixed load for the whole duration: logins with
// right and wrong codes, verifyChallenge, enrolment, reads (GraphQL and REST), challenges left to
// expire — while graphql-ws and SSE subscribers stay connected and a webhook receiver takes
// deliveries. Every answer is checked (a wrong code answering PENDING is a result, not an error),
// and at the end every approval and expiry must have reached every subscriber and the webhook.
// The API's and worker's RSS are sampled every few seconds; the verdict is taken on the post-GC
// floors (the minimum of each window, bench/flatness.ts): a slope (MB/min over the second half) and
// the growth of the last quarter over the first quarter after warm-up.
// Exit code: 0 when errors = 0 and RSS is flat, 1 otherwise.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem, loadavg } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'node:http';
import WebSocket from 'ws';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import { openDatabase } from '../src/db/client.ts';
import { parseKeyring } from '../src/domain/seed-crypto.ts';
import { generateCode, parseBase32Secret } from '../src/domain/totp.ts';
import { loadFingerprintKey } from '../src/infra/keys.ts';
import { Receiver } from '../test/support/receiver.ts';
import { percentile, progress, progressDone, round, send } from './load.ts';
import { API_NODE_FLAGS, freePort, root, rssMb, startChild, waitOutput, waitReady, type Child } from './proc.ts';
import { cleanUpOnInterrupt, runEnvironment } from './env.ts';
import { buildEntries } from '../scripts/build.ts';
import { seed } from './seed.ts';
import { flatness, isFlat, type Flatness } from './flatness.ts';
import { CREATE_CHALLENGE, FactorPool } from './scenarios/hot-path.ts';
import { LIST_CHALLENGES } from './scenarios/reads.ts';

// ------------------------------------------------------------------ flags

const argv = process.argv.slice(2);
const option = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
/** `90`, `90s`, `10m`, `1h` → milliseconds. */
function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(s.trim());
  if (!m) throw new Error(`--duration: expected e.g. 60s, 10m, 1h; got ${s}`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
}
const embedded = argv.includes('--embedded');
const durationMs = parseDuration(option('duration') ?? '10m');
/** Operations per second (an operation is one to two requests). */
const rate = Number(option('rate') ?? 10);
const sampleMs = Number(option('sample') ?? 5) * 1000;
/** Verdict thresholds, on post-GC floors (bench/flatness.ts): growth (last quarter over first quarter after warm-up) and slope over the second half. */
const maxGrowthPct = Number(option('max-growth') ?? 15);
const maxSlope = Number(option('max-slope') ?? 1);
const factorsN = Number(option('factors') ?? Math.max(600, Math.ceil(rate * 0.5 * 30 * 1.5)));
const out = option('out') ?? join(root, 'bench', `SOAK${embedded ? '.embedded' : ''}.json`);

const log = (s: string) => process.stderr.write(`${s}\n`);
const runId = randomBytes(4).toString('hex');

// ------------------------------------------------------------------ environment

const { dbName, dataDir, databaseUrl, keys, baseEnv, adminQuery, removeData } = runEnvironment('soak', runId, embedded, {
  VERITY_WEBHOOK_ALLOW_PRIVATE: 'true',
}); // the webhook receiver is on loopback

const children: Child[] = [];
const closers: (() => Promise<void> | void)[] = [];
async function cleanup() {
  for (const c of closers.splice(0).reverse()) await Promise.resolve(c()).catch(() => {});
  for (const c of children) await c.stop().catch(() => {});
  await removeData(log);
}
const interrupted = cleanUpOnInterrupt(cleanup, log);

// ------------------------------------------------------------------ bookkeeping

interface Kind {
  ok: number;
  errors: number;
  firstError?: string;
  /** Operation latency percentiles (ms), from the intended start: queueing in an overloaded server shows here. */
  p50?: number;
  p99?: number;
  max?: number;
}
const latencies: Record<string, number[]> = {};
const kinds: Record<string, Kind> = {};
const kind = (k: string) => (kinds[k] ??= { ok: 0, errors: 0 });
function fail(k: string, why: string) {
  const s = kind(k);
  s.errors++;
  s.firstError ??= why.slice(0, 400);
}

interface Sample {
  t: number;
  apiMb: number;
  workerMb?: number;
  load1: number;
}
const samples: Sample[] = [];

// ------------------------------------------------------------------ run

const t0 = Date.now();
let exitCode = 1;
try {
  log(
    `Verity soak ${runId}: ${embedded ? 'embedded (PGlite, one process)' : 'PostgreSQL + Redis, API + worker processes'}; ${durationMs / 1000} s at ${rate} operations/s`,
  );

  // 1. Database and seed: factors for the login paths (skew 2: several fresh steps per 30 s each).
  if (databaseUrl) await adminQuery(`CREATE DATABASE ${dbName}`);
  const db = await openDatabase({ databaseUrl, dataDir, poolSize: 4 });
  const keyring = parseKeyring(keys);
  const seeded = await seed(db.prisma, keyring, await loadFingerprintKey(db.prisma, keyring), { factors: factorsN, readChallenges: 200 });
  await db.close();
  log(`seeded: ${factorsN} verified factors, a reader entity with 200 challenges`);

  // 2. Verity, compiled as `npm start` runs it (startChild runs dist/).
  await buildEntries();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  const api = startChild(
    'src/main.ts',
    [],
    { ...baseEnv, PORT: String(port), VERITY_RUN_WORKERS: embedded ? 'true' : 'false' },
    API_NODE_FLAGS,
  );
  children.push(api);
  await waitReady(api, `http://127.0.0.1:${port}/healthz`);
  let worker: Child | undefined;
  if (!embedded) {
    worker = startChild('workers/main.ts', [], { ...baseEnv, LOG_LEVEL: 'info' });
    children.push(worker);
    await waitOutput(worker, /worker started/);
  }
  log(`API pid ${api.pid} on :${port}${worker ? `, worker pid ${worker.pid}` : ''}`);

  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  closers.push(() => agent.destroy());
  const gqlUrl = new URL(url);
  async function gql(k: string, query: string, variables: Record<string, unknown>): Promise<Record<string, any> | null> {
    try {
      const r = await send(agent, gqlUrl, { headers: { authorization: seeded.auth }, body: JSON.stringify({ query, variables }) });
      const body = JSON.parse(r.body) as { data?: Record<string, any>; errors?: unknown[] };
      if (r.status !== 200 || body.errors) {
        fail(k, `${r.status} ${r.body}`);
        return null;
      }
      return body.data!;
    } catch (e) {
      fail(k, String(e));
      return null;
    }
  }

  // 3. A webhook to a local receiver, and an enrolment service.
  const receiver = await Receiver.start();
  closers.push(() => receiver.close());
  const hook = await gql('setup', 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { sid } } }', {
    input: {
      serviceSid: seeded.serviceSid,
      friendlyName: 'Soak',
      webhookUrl: receiver.url(),
      eventTypes: ['challenge.approved', 'challenge.expired'],
      signing: 'STANDARD',
    },
  });
  const enrolService = await gql('setup', 'mutation($input: CreateServiceInput!) { createService(input: $input) { sid } }', {
    input: { friendlyName: 'Soak enrolment' },
  });
  if (!hook || !enrolService) throw new Error(`setup failed: ${JSON.stringify(kinds)}`);
  const enrolServiceSid = enrolService.createService.sid as string;

  // 4. Subscribers, connected throughout: two graphql-ws, two SSE, on every challenge of the service.
  const authorization = seeded.auth;
  const SUB = 'subscription($svc: ID) { challengeUpdated(serviceSid: $svc) { sid status } }';
  interface Subscriber {
    name: string;
    seen: Map<string, Set<string>>;
    events: number;
    ended?: string;
  }
  const subscribers: Subscriber[] = [];
  const subscribed: Promise<void>[] = [];
  for (const transport of ['ws', 'ws', 'sse', 'sse'] as const) {
    const s: Subscriber = { name: `${transport}-${subscribers.length + 1}`, seen: new Map(), events: 0 };
    subscribers.push(s);
    const sink = {
      next: (r: { data?: { challengeUpdated?: { sid: string; status: string } } | null }) => {
        const c = r.data?.challengeUpdated;
        if (!c) return fail('subscription', `${s.name}: ${JSON.stringify(r)}`);
        s.events++;
        let set = s.seen.get(c.sid);
        if (!set) s.seen.set(c.sid, (set = new Set()));
        set.add(c.status);
      },
      error: (e: unknown) => {
        s.ended = `error: ${e instanceof Error ? e.message : JSON.stringify(e)}`;
      },
      complete: () => {
        s.ended ??= 'completed';
      },
    };
    if (transport === 'ws') {
      let ack: () => void;
      subscribed.push(new Promise<void>((r) => (ack = r)));
      const client = createWsClient({
        url: `ws://127.0.0.1:${port}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization },
        retryAttempts: 0,
        lazy: false,
        on: { connected: () => ack() },
      });
      client.subscribe({ query: SUB, variables: { svc: seeded.serviceSid } }, sink);
      closers.push(() => client.dispose());
    } else {
      const client = createSseClient({ url, headers: { authorization }, retryAttempts: 0 });
      client.subscribe({ query: SUB, variables: { svc: seeded.serviceSid } }, sink);
      closers.push(() => client.dispose());
    }
  }
  await Promise.all(subscribed);
  // No server event says "subscribed": a challenge created now must reach all four before load starts.
  {
    const probe = await gql('setup', CREATE_CHALLENGE, { input: { factorSid: seeded.factors[0]!.sid } });
    const sid = probe?.createChallenge.sid as string;
    const until = Date.now() + 30_000;
    while (!subscribers.every((s) => s.seen.has(sid))) {
      if (Date.now() > until)
        throw new Error(`subscribers not receiving: ${subscribers.map((s) => `${s.name} ${s.events} ${s.ended ?? ''}`).join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    void sid;
  }
  log('4 subscribers (2 graphql-ws, 2 SSE) receiving; webhook receiver on :' + receiver.port);

  // 5. The load.
  const pool = new FactorPool(seeded.factors);
  const approved: string[] = [];
  const expiring: { sid: string; at: number }[] = [];
  let enrolled = 0;
  const EXPECT = (k: string, data: Record<string, any> | null, path: (d: Record<string, any>) => unknown, want: unknown) => {
    if (!data) return false;
    const got = path(data);
    if (got !== want) {
      fail(k, `expected ${String(want)}, got ${JSON.stringify(data).slice(0, 300)}`);
      return false;
    }
    kind(k).ok++;
    return true;
  };
  const VERIFY_CHALLENGE = 'mutation($input: VerifyChallengeInput!) { verifyChallenge(input: $input) { sid status } }';
  const CREATE_FACTOR =
    'mutation($input: CreateTotpFactorInput!) { createTotpFactor(input: $input) { factor { sid } binding { secret } } }';
  const VERIFY_FACTOR = 'mutation($input: VerifyFactorInput!) { verifyFactor(input: $input) { sid status } }';

  /** The mix, by weight. Wrong codes stay under the throttle's 5 free failures per factor (FactorPool). */
  const ops: [weight: number, name: string, run: () => Promise<void>][] = [
    [
      30,
      'login.right',
      async () => {
        const c = pool.right();
        if (!c) return fail('login.right', 'no fresh code left in the pool: raise --factors');
        const d = await gql('login.right', CREATE_CHALLENGE, { input: { factorSid: c.factorSid, authPayload: c.code } });
        if (EXPECT('login.right', d, (x) => x.createChallenge.status, 'APPROVED')) approved.push(d!.createChallenge.sid);
      },
    ],
    [
      15,
      'login.wrong',
      async () => {
        const c = pool.wrongCode();
        if (!c) return fail('login.wrong', 'no factor left under the wrong-code budget');
        // A wrong code is a result: PENDING.
        EXPECT(
          'login.wrong',
          await gql('login.wrong', CREATE_CHALLENGE, { input: { factorSid: c.factorSid, authPayload: c.code } }),
          (x) => x.createChallenge.status,
          'PENDING',
        );
      },
    ],
    [
      10,
      'verifyChallenge',
      async () => {
        const c = pool.right();
        if (!c) return fail('verifyChallenge', 'no fresh code left in the pool: raise --factors');
        const created = await gql('verifyChallenge', CREATE_CHALLENGE, { input: { factorSid: c.factorSid } });
        if (!EXPECT('verifyChallenge.open', created, (x) => x.createChallenge.status, 'PENDING')) return;
        const sid = created!.createChallenge.sid as string;
        const d = await gql('verifyChallenge', VERIFY_CHALLENGE, { input: { challengeSid: sid, authPayload: c.code } });
        if (EXPECT('verifyChallenge', d, (x) => x.verifyChallenge.status, 'APPROVED')) approved.push(sid);
      },
    ],
    [
      5,
      'enrolment',
      async () => {
        const identity = `soak-${runId}-${String(++enrolled).padStart(7, '0')}`;
        const created = await gql('enrolment', CREATE_FACTOR, {
          input: { serviceSid: enrolServiceSid, identity, friendlyName: 'Soak phone' },
        });
        if (!created) return;
        const parsed = parseBase32Secret(created.createTotpFactor.binding.secret);
        if (!parsed.ok) return fail('enrolment', 'bad secret');
        const code = generateCode(parsed.seed, { alg: 'sha1', codeLength: 6, timeStep: 30, skew: 1 }, Date.now() / 1000);
        EXPECT(
          'enrolment',
          await gql('enrolment', VERIFY_FACTOR, { input: { factorSid: created.createTotpFactor.factor.sid, authPayload: code } }),
          (x) => x.verifyFactor.status,
          'VERIFIED',
        );
      },
    ],
    [
      5,
      'expiry',
      async () => {
        // Left to expire 30 s from now: the job (or reconciliation) must emit EXPIRED to everyone.
        const factorSid = seeded.factors[Math.floor(Math.random() * seeded.factors.length)]!.sid;
        const expirationDate = new Date(Date.now() + 30_000).toISOString();
        const d = await gql('expiry', CREATE_CHALLENGE, { input: { factorSid, expirationDate } });
        if (EXPECT('expiry', d, (x) => x.createChallenge.status, 'PENDING'))
          expiring.push({ sid: d!.createChallenge.sid, at: Date.parse(expirationDate) });
      },
    ],
    [
      15,
      'read.list',
      async () => {
        const d = await gql('read.list', LIST_CHALLENGES, { svc: seeded.serviceSid, identity: seeded.reader.identity, first: 20 });
        EXPECT('read.list', d, (x) => x.entity.challenges.edges.length, 20);
      },
    ],
    [
      8,
      'read.challenge',
      async () => {
        const sid = approved[Math.floor(Math.random() * approved.length)];
        if (!sid) return;
        EXPECT(
          'read.challenge',
          await gql('read.challenge', 'query($sid: ID!) { challenge(sid: $sid) { sid status factor { sid } } }', { sid }),
          (x) => x.challenge.status,
          'APPROVED',
        );
      },
    ],
    [
      7,
      'rest.factor',
      async () => {
        const f = seeded.factors[Math.floor(Math.random() * seeded.factors.length)]!;
        const res = await fetch(
          `http://127.0.0.1:${port}/v2/Services/${seeded.serviceSid}/Entities/${encodeURIComponent(identityOf(f.sid))}/Factors/${f.sid}`,
          {
            headers: { authorization },
          },
        ).catch((e: unknown) => e as Error);
        if (res instanceof Error) return fail('rest.factor', String(res));
        const text = await res.text();
        if (res.status !== 200 || !text.includes(`"sid":"${f.sid}"`)) return fail('rest.factor', `${res.status} ${text}`);
        kind('rest.factor').ok++;
      },
    ],
    [
      5,
      'read.services',
      async () => {
        EXPECT(
          'read.services',
          await gql('read.services', '{ viewer { sid } services(first: 10) { totalCount } }', {}),
          (x) => x.viewer.sid,
          seeded.accountSid,
        );
      },
    ],
  ];
  // The seed names identities after the factor's position: bench-user-000000, …
  const identityBySid = new Map(seeded.factors.map((f, i) => [f.sid, `bench-user-${String(i).padStart(6, '0')}`]));
  const identityOf = (sid: string) => identityBySid.get(sid)!;
  const totalWeight = ops.reduce((s, o) => s + o[0], 0);
  const pick = (i: number) => {
    // Deterministic interleaving (a weighted round robin): the mix is the same at every point of the run.
    let x = (i * 7919) % totalWeight;
    for (const o of ops) {
      if ((x -= o[0]) < 0) return o;
    }
    return ops[0]!;
  };

  const sample = () => {
    samples.push({
      t: (Date.now() - loadStart) / 1000,
      apiMb: round(rssMb(api.pid), 1),
      ...(worker ? { workerMb: round(rssMb(worker.pid), 1) } : {}),
      load1: round(loadavg()[0]!, 2),
    });
  };
  const loadStart = Date.now();
  sample();
  const sampler = setInterval(sample, sampleMs);
  const ticker = setInterval(() => {
    const done = Object.values(kinds).reduce((s, k) => s + k.ok, 0);
    const errs = Object.values(kinds).reduce((s, k) => s + k.errors, 0);
    const last = samples.at(-1);
    progress(
      `  soak: ${((Date.now() - loadStart) / 1000).toFixed(0)}/${durationMs / 1000} s  ${done} ok  ${errs} errors  in flight ${inflight.size}  API ${last?.apiMb} MB${last?.workerMb ? `  worker ${last.workerMb} MB` : ''}`,
    );
  }, 1000);
  const inflight = new Set<Promise<void>>();
  let issued = 0;
  let maxInflight = 0;
  const interval = 1000 / rate;
  while (!interrupted()) {
    const due = loadStart + issued * interval;
    if (due >= loadStart + durationMs) break;
    const wait = due - Date.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const [, name, run] = pick(issued++);
    // Open loop at a fixed rate: a server that falls behind shows up as a growing backlog.
    if (inflight.size >= 200) {
      fail('backlog', `more than 200 operations in flight at ${name}: the server cannot keep up with ${rate}/s`);
      continue;
    }
    const started = due;
    const p = run()
      .catch((e: unknown) => fail(name, String(e)))
      .finally(() => {
        inflight.delete(p);
        (latencies[name] ??= []).push(Date.now() - started);
      });
    inflight.add(p);
    maxInflight = Math.max(maxInflight, inflight.size);
  }
  await Promise.all(inflight);
  clearInterval(ticker);
  progressDone();
  const loadSeconds = (Date.now() - loadStart) / 1000;

  // 6. Drain: every approval and every expiry must reach every subscriber and the webhook.
  const webhookSeen = () => {
    const m = new Map<string, Set<string>>();
    for (const r of receiver.requests) {
      const sid = /"challenge_sid":"(YC[0-9a-f]{32})"/.exec(r.body)?.[1];
      const type = /"type":"(challenge\.[a-z]+)"/.exec(r.body)?.[1];
      if (!sid || !type) continue;
      let set = m.get(sid);
      if (!set) m.set(sid, (set = new Set()));
      set.add(type);
    }
    return m;
  };
  const missing = () => {
    const wh = webhookSeen();
    const out: Record<string, number> = {};
    const add = (k: string) => (out[k] = (out[k] ?? 0) + 1);
    for (const sid of approved) {
      for (const s of subscribers) if (!s.seen.get(sid)?.has('APPROVED')) add(`${s.name} APPROVED`);
      if (!wh.get(sid)?.has('challenge.approved')) add('webhook challenge.approved');
    }
    for (const { sid } of expiring) {
      for (const s of subscribers) if (!s.seen.get(sid)?.has('EXPIRED')) add(`${s.name} EXPIRED`);
      if (!wh.get(sid)?.has('challenge.expired')) add('webhook challenge.expired');
    }
    return out;
  };
  const lastExpiry = Math.max(0, ...expiring.map((e) => e.at));
  const drainUntil = Math.max(Date.now(), lastExpiry) + 60_000;
  while (Object.keys(missing()).length && Date.now() < drainUntil) {
    progress(`  draining: waiting for ${Object.values(missing()).reduce((a, b) => a + b, 0)} events`);
    await new Promise((r) => setTimeout(r, 500));
  }
  progressDone();
  clearInterval(sampler);
  sample();
  const lost = missing();
  for (const [what, n] of Object.entries(lost)) {
    kind('events').errors += n;
    kind('events').firstError ??= `${n} × ${what} never arrived`;
  }
  kind('events').ok = approved.length * 5 + expiring.length * 5 - Object.values(lost).reduce((a, b) => a + b, 0);
  for (const s of subscribers) if (s.ended) fail('subscription', `${s.name} ended: ${s.ended}`);
  if (api.child.exitCode !== null) fail('process', `API exited with ${api.child.exitCode}`);
  if (worker && worker.child.exitCode !== null) fail('process', `worker exited with ${worker.child.exitCode}`);

  // 7. Verdict.
  for (const [name, xs] of Object.entries(latencies)) {
    xs.sort((a, b) => a - b);
    Object.assign(kind(name), { p50: percentile(xs, 50), p99: percentile(xs, 99), max: xs.at(-1) });
  }
  const errors = Object.values(kinds).reduce((s, k) => s + k.errors, 0);
  const requests = Object.entries(kinds)
    .filter(([k]) => k !== 'events')
    .reduce((s, [, k]) => s + k.ok + k.errors, 0);
  const flat = (pick: (s: Sample) => number | undefined) =>
    flatness(
      samples
        .filter((s) => s.t <= loadSeconds)
        .map((s) => ({ t: s.t, mb: pick(s) }))
        .filter((x): x is { t: number; mb: number } => x.mb !== undefined && !Number.isNaN(x.mb)),
      loadSeconds,
    );
  const apiFlat = flat((s) => s.apiMb);
  const workerFlat = worker ? flat((s) => s.workerMb) : undefined;
  const judge = (f: Flatness) => isFlat(f, loadSeconds, { maxGrowthPct, maxSlopeMbPerMin: maxSlope, minSlopeRunS: 300 });
  const rssOk = judge(apiFlat) && (!workerFlat || judge(workerFlat));

  log('');
  log(`RSS over time (MB; load average of the machine beside it):`);
  log(`  ${'t (s)'.padStart(7)} ${'API'.padStart(7)}${worker ? ` ${'worker'.padStart(7)}` : ''} ${'load1'.padStart(6)}`);
  const every = Math.max(1, Math.round(samples.length / 24));
  samples.forEach((s, i) => {
    if (i % every === 0 || i === samples.length - 1)
      log(
        `  ${s.t.toFixed(0).padStart(7)} ${s.apiMb.toFixed(1).padStart(7)}${worker ? ` ${(s.workerMb ?? NaN).toFixed(1).padStart(7)}` : ''} ${s.load1.toFixed(2).padStart(6)}`,
      );
  });
  const describeFlat = (name: string, f: Flatness) =>
    `${name}: post-GC floor (minimum of each ${f.windowS} s window) ${f.firstQuarterFloorMb} MB (first quarter after ${f.warmupS} s warm-up) → ${f.lastQuarterFloorMb} MB (last quarter): ${f.growthPct >= 0 ? '+' : ''}${f.growthPct} %; floor slope over the second half ${f.slopeMbPerMin} MB/min` +
    `\n${' '.repeat(name.length)}  raw samples: mean ${f.firstQuarterMb} → ${f.lastQuarterMb} MB, second-half slope ${f.rawSlopeMbPerMin} MB/min; start ${f.startMb} MB, end ${f.endMb} MB, peak ${f.peakMb} MB`;
  log(describeFlat('API   ', apiFlat));
  if (workerFlat) log(describeFlat('worker', workerFlat));
  log('');
  log('operations:');
  for (const [k, v] of Object.entries(kinds).sort()) {
    const lat = v.p50 === undefined ? '' : `  p50 ${v.p50} ms p99 ${v.p99} ms max ${v.max} ms`;
    log(
      `  ${k.padEnd(20)} ${String(v.ok).padStart(7)} ok ${String(v.errors).padStart(5)} errors${lat}${v.firstError ? `  first: ${v.firstError}` : ''}`,
    );
  }
  log(
    `  webhook requests received: ${receiver.requests.length}; subscriber events: ${subscribers.map((s) => `${s.name} ${s.events}`).join(', ')}; max in flight ${maxInflight}`,
  );
  const verdict = errors === 0 && rssOk ? 'PASS' : 'FAIL';
  log(
    `\n${verdict}: ${errors} errors; RSS ${rssOk ? 'flat' : 'GROWING'} (post-GC floors; limits: growth ≤ ${maxGrowthPct} %, slope ≤ ${maxSlope} MB/min for runs ≥ 5 min)`,
  );

  const result = {
    date: new Date().toISOString(),
    verdict,
    mode: embedded ? 'embedded (PGlite, in-process jobs and events)' : 'postgres (PostgreSQL + Redis, API + BullMQ worker processes)',
    machine: {
      cpus: cpus().length,
      memGb: round(totalmem() / 2 ** 30, 1),
      node: process.version,
      loadAverageAtEnd: loadavg().map((x) => round(x, 2)),
    },
    durationS: round(loadSeconds, 1),
    rateOpsPerS: rate,
    factors: factorsN,
    requests,
    errors,
    operations: kinds,
    events: {
      approved: approved.length,
      expired: expiring.length,
      webhookRequests: receiver.requests.length,
      subscribers: subscribers.map((s) => ({ name: s.name, events: s.events })),
    },
    maxInflight,
    rss: { api: apiFlat, ...(workerFlat ? { worker: workerFlat } : {}), limits: { maxGrowthPct, maxSlopeMbPerMin: maxSlope }, samples },
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  log(`result written to ${out} (total ${Math.round((Date.now() - t0) / 1000)} s)`);
  exitCode = verdict === 'PASS' ? 0 : 1;
} catch (e) {
  log(`soak failed: ${e instanceof Error ? e.stack : String(e)}`);
  for (const c of children) log(`--- ${c.pid} output (tail):\n${c.output().slice(-3000)}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
