// `npm run bench [-- --embedded] [-- --quick] [-- --duration <s>] [-- --concurrency <n>] [-- --profile] [-- --out <file>] [-- --api-flags "<node flags>"]`
//
// Starts Verity as a child process against its own throw-away PostgreSQL database and Redis prefix
// (or embedded PGlite with --embedded), seeds it, measures the machine's ceilings (baselines) and
// the scenarios over loopback, and prints every figure with its ratio to the baselines. Each load
// run is bounded by time and count. Performance is measured here, never by timed assertions in tests.
import { randomBytes } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/client.ts';
import { parseKeyring } from '../src/domain/seed-crypto.ts';
import { loadFingerprintKey } from '../src/infra/keys.ts';
import { openRuntime } from '../src/runtime.ts';
import { reconcileExpiry } from '../src/services/challenge-expiry.ts';
import { VIEWER_QUERY, measureBaselines, pgBackends, type Baselines } from './baselines.ts';
import { progress, progressDone, round, runLoad, type LoadResult } from './load.ts';
import { ENTRIES, buildEntries } from '../scripts/build.ts';
import { API_NODE_FLAGS, freePort, root, startChild, waitOutput, waitReady, type Child } from './proc.ts';
import { cleanUpOnInterrupt, runEnvironment } from './env.ts';
import { seed, type Seeded } from './seed.ts';
import { FactorPool, challengeRequest, expectStatus } from './scenarios/hot-path.ts';
import { enrolment } from './scenarios/enrolment.ts';
import { expectPage, listRequest } from './scenarios/reads.ts';
import { countStatements, type StatementCounts } from './scenarios/statements.ts';
import { importThroughput, type ImportBench } from './scenarios/import.ts';
import { twoInstances, type TwoInstances } from './scenarios/two-instances.ts';
import { clearDrain, insertPending, measureDrain, spreadPending, type DrainResult } from './scenarios/expiry.ts';
import { purgeBench } from './purge.ts';

// ------------------------------------------------------------------ flags

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const embedded = flag('embedded');
const quick = flag('quick');
const profile = flag('profile');
const durationMs = Number(option('duration') ?? (quick ? 4 : 10)) * 1000;
const concurrency = Number(option('concurrency') ?? 16);
const drainN = Number(option('drain') ?? 50_000);
const jobsDrainN = quick ? 1000 : 5000;
const sustainedRate = 5000;
// --only hot,accounts,overhead,traced,enrolment,reads,jobs,statements,bulk: a subset (baselines always run: every figure needs them).
// --only purge (alone, PostgreSQL only; not in the default set, it seeds --purge-rows ended challenges, default 1 million):
// the retention purge under login load, measured against the same load alone (bench/purge.ts).
// --only import: bulk import throughput (10,000 factors, batches of 1000) ÷ createTotpFactor one at a time.
// --only two (PostgreSQL only; not in the default set, which it would lengthen):
// two API instances against one, logins spread over both, and bytes stored per login.
const GROUPS = [
  'hot',
  'accounts',
  'overhead',
  'traced',
  'enrolment',
  'reads',
  'jobs',
  'statements',
  'bulk',
  'import',
  'two',
  'purge',
] as const;
// --seed-cache <n>: the API's VERITY_SEED_CACHE_SIZE (0: every login reads its factor first instead).
const seedCache = option('seed-cache');
const otherAccounts = 32;
// --api-flags "<node flags>": added to the API's (trials of V8 flags, which NODE_OPTIONS refuses; the baselines keep theirs).
const apiExtraFlags = (option('api-flags') ?? '').split(' ').filter(Boolean);
const DEFAULT_GROUPS = GROUPS.filter((g) => g !== 'purge' && g !== 'two');
const only = new Set((option('only') ?? DEFAULT_GROUPS.join(',')).split(',').map((g) => g.trim()));
if (only.has('purge') && (only.size > 1 || embedded)) throw new Error('--only purge runs alone, on PostgreSQL');
for (const g of only) if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`--only: unknown group ${g} (${GROUPS.join(', ')})`);
const runs = (g: (typeof GROUPS)[number]) => only.has(g);
// Factors of their own for the traced run: the hot runs leave theirs with few fresh steps.
const tracedN = runs('traced') ? (quick ? 600 : 5000) : 0;
const partial = only.size < DEFAULT_GROUPS.length;
// Hot-path factors (--factors n): each gives ~4 right codes at once, then one per 30 s, and 4 wrong
// ones between right ones. At ~2,000 logins/s (a quiet 2-core box) the right, open-loop and
// one-account runs take ~55,000 fresh steps within two minutes: 16,000 factors leave a 2× margin.
// A run that still spends its supply ends early and says so.
const factorsN = Number(option('factors') ?? (quick ? 3000 : 16_000));
if (only.has('two') && embedded) throw new Error('--only two needs PostgreSQL and Redis (two processes cannot share PGlite)');
const out =
  option('out') ?? join(root, 'bench', `RESULTS${embedded ? '.embedded' : ''}${quick ? '.quick' : ''}${partial ? '.partial' : ''}.json`);

const log = (s: string) => process.stderr.write(`${s}\n`);
const runId = randomBytes(4).toString('hex');
const t0 = Date.now();

// ------------------------------------------------------------------ environment

const { serverUrl, dbName, dataDir, databaseUrl, redisPrefix, keys, baseEnv, adminQuery, removeData } = runEnvironment(
  'bench',
  runId,
  embedded,
);

const children: Child[] = [];
async function cleanup() {
  for (const c of children) await c.stop().catch(() => {});
  await removeData(log);
}
cleanUpOnInterrupt(cleanup, log);

// ------------------------------------------------------------------ run

interface Scenario extends LoadResult {
  rssMb: number;
  /** CPU ms per request: the API process, and (PostgreSQL mode) the database backends of the bench database. */
  cpuMsPerReq: number;
  dbCpuMsPerReq?: number;
}

const results: {
  date: string;
  machine: Record<string, unknown>;
  mode: string;
  flags: Record<string, unknown>;
  baselines?: Baselines;
  /** The same baselines measured again after the HTTP scenarios: ratios divide by the mean of both. */
  baselinesAfter?: Baselines;
  scenarios: Record<string, Scenario>;
  import?: ImportBench;
  twoInstances?: TwoInstances;
  statements?: StatementCounts;
  expiry: DrainResult[];
  workerRssMb?: number;
  notes: string[];
} = {
  date: new Date().toISOString(),
  machine: machine(),
  mode: embedded ? 'embedded (PGlite, in-process jobs and events)' : 'postgres (PostgreSQL + Redis, BullMQ worker process)',
  flags: {
    only: [...only],
    quick,
    durationS: durationMs / 1000,
    concurrency,
    factors: factorsN,
    drain: drainN,
    jobsDrain: jobsDrainN,
    profile,
    seedCache: seedCache ?? 'default',
  },
  scenarios: {},
  expiry: [],
  notes: [],
};

function machine() {
  const pgVersion = (() => {
    try {
      return execFileSync('psql', [serverUrl, '-Atc', 'show server_version']).toString().trim();
    } catch {
      return 'unknown';
    }
  })();
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memGb: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    postgres: pgVersion,
    platform: `${process.platform} ${process.arch}`,
  };
}

if (only.has('purge')) {
  const purgeOut = option('out') ?? join(root, 'bench', 'RESULTS.purge.json');
  try {
    await buildEntries([...ENTRIES]);
    await adminQuery(`CREATE DATABASE ${dbName}`);
    log(`Verity bench ${runId}: retention purge on PostgreSQL`);
    const r = await purgeBench({
      databaseUrl: databaseUrl!,
      dbName,
      keys,
      baseEnv,
      rows: Number(option('purge-rows') ?? 1_000_000),
      auditEvents: Number(option('purge-audit') ?? 100_000),
      batchSize: Number(option('purge-batch') ?? 5000),
      loginRate: Number(option('purge-login-rate') ?? 50),
      baselineMs: durationMs,
      children,
      log,
    });
    writeFileSync(purgeOut, JSON.stringify({ date: new Date().toISOString(), machine: machine(), purge: r }, null, 2) + '\n');
    log(`results written to ${purgeOut}`);
  } finally {
    await cleanup();
    log(`done in ${round((Date.now() - t0) / 1000, 0)} s`);
  }
  process.exit(0);
}

try {
  // The processes under test run compiled, as `npm start` runs them (scripts/build.ts).
  await buildEntries([...ENTRIES, 'bench/baseline-server.ts']);
  log(`Verity bench ${runId}: ${results.mode}${quick ? ', quick' : ''}; ${durationMs / 1000} s per run, concurrency ${concurrency}`);

  // 1. Database and seed.
  if (databaseUrl) await adminQuery(`CREATE DATABASE ${dbName}`);
  let seeded: Seeded;
  {
    const db = await openDatabase({ databaseUrl, dataDir: dataDir ? dataDir : undefined, poolSize: 4 });
    const keyring = parseKeyring(keys);
    seeded = await seed(db.prisma, keyring, await loadFingerprintKey(db.prisma, keyring), {
      factors: factorsN + tracedN,
      readChallenges: 200,
      accounts: runs('accounts') ? otherAccounts : 0,
      factorsPerAccount: quick ? 40 : 400,
      onProgress: (d, t) => progress(`  seeding factors ${d}/${t}`),
    });
    progressDone();
    await db.close();
    log(
      `seeded: 1 account, ${factorsN} verified factors, 1 entity with 200 challenges; ${seeded.otherAccounts.length} factors in ${runs('accounts') ? otherAccounts : 0} more accounts`,
    );
  }
  // Ten factors kept aside for the in-process statement counts.
  const spare = seeded.factors.splice(-10);
  const tracedFactors = seeded.factors.splice(seeded.factors.length - tracedN);

  // 2. Baselines.
  log('baselines:');
  results.baselines = await measureBaselines({ databaseUrl, durationMs, concurrency, log });

  // 3. Verity API (and, with Redis, a worker process) as children.
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  const profDir = join(root, 'bench', 'profiles');
  if (profile) mkdirSync(profDir, { recursive: true });
  // Reconciliation every 10 min during the HTTP phase: the jobs path alone expires challenges.
  const apiEnv = {
    ...baseEnv,
    PORT: String(port),
    VERITY_RUN_WORKERS: embedded ? 'true' : 'false',
    VERITY_RECONCILE_INTERVAL_MS: '600000',
    // Sized for every factor the bench logs in with, as an operator sizes it for its active factors
    // (with the default 10,000 a round-robin over more would miss on every login).
    VERITY_SEED_CACHE_SIZE: seedCache ?? String(seeded.factors.length + seeded.otherAccounts.length + 100),
    // A 1000-item import is ~120 KB of JSON, over the default 100 KB cap (docs/importing.md).
    ...(runs('import') ? { VERITY_BODY_LIMIT_BYTES: String(2 * 1024 * 1024) } : {}),
  };
  // The API runs with `npm start`'s heap cap (package.json; bench/RESULTS.md "Memory, session 6").
  const api = startChild('src/main.ts', [], apiEnv, [
    ...API_NODE_FLAGS,
    ...apiExtraFlags,
    ...(profile ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []),
  ]);
  children.push(api);
  await waitReady(api, `http://127.0.0.1:${port}/healthz`);
  let worker: Child | undefined;
  if (!embedded) {
    worker = startChild('workers/main.ts', [], { ...baseEnv, LOG_LEVEL: 'info', VERITY_RECONCILE_INTERVAL_MS: '600000' });
    children.push(worker);
    await waitOutput(worker, /worker started/);
  }
  log(`Verity API pid ${api.pid} on :${port}${worker ? `, worker pid ${worker.pid}` : ''}`);

  const pool = new FactorPool(seeded.factors);
  const many = new FactorPool(seeded.otherAccounts);
  const scenario = async (key: string, run: (tick: () => void) => Promise<LoadResult>) => {
    api.resetPeak();
    const cpu0 = api.cpuMs();
    const db = databaseUrl ? pgBackends(databaseUrl) : undefined;
    await db?.begin();
    const r = await run(() => api.sample());
    api.sample();
    const per = (ms: number) => round(ms / Math.max(1, r.requests), 3);
    const s: Scenario = {
      ...r,
      rssMb: api.peakRssMb(),
      cpuMsPerReq: per(api.cpuMs() - cpu0),
      ...(db ? { dbCpuMsPerReq: per(await db.end()) } : {}),
    };
    results.scenarios[key] = s;
    log(
      `  ${r.name.padEnd(34)} ${String(r.rps).padStart(8)} /s  p50 ${r.p50} ms  p99 ${r.p99} ms  RSS ${s.rssMb} MB  CPU/req API ${s.cpuMsPerReq} ms${s.dbCpuMsPerReq !== undefined ? ` DB ${s.dbCpuMsPerReq} ms` : ''}  ${r.requests} done${r.errors ? `, ${r.errors} ERRORS (${r.firstError})` : ''}${r.spent ? `  ENDED EARLY at ${r.seconds} s: every factor's fresh steps spent (raise --factors)` : ''}`,
    );
    return s;
  };

  // Warm-up: JIT, connection pools, Yoga's parse cache.
  const warmUp = (target: string) =>
    runLoad({
      url: target,
      name: 'warm-up',
      durationMs: 2000,
      maxRequests: 1e9,
      concurrency,
      next: () => listRequest(seeded.auth, seeded.serviceSid, seeded.reader.identity, 10),
      check: () => true,
    });
  await warmUp(url);
  // One wrong code per hot-path factor: every factor's seed is then in the API's seed cache, so the
  // wrong-code and right-code runs below compare the same path (a wrong run that met each factor
  // first would pay every cache miss — a read and a decryption — that the right run then skips).
  // The cold path is measured on its own with `--seed-cache 0`.
  for (const [p, n] of [
    [pool, seeded.factors.length],
    [many, seeded.otherAccounts.length],
  ] as const)
    if (n > 0)
      await runLoad({
        url,
        name: 'warm-up',
        durationMs: 30_000,
        maxRequests: n,
        concurrency,
        next: () => challengeRequest(seeded.auth, p.wrongCode()),
        check: () => true,
      });

  log('scenarios:');
  if (runs('hot')) {
    await scenario('wrongCode', (tick) =>
      runLoad({
        url,
        name: 'b. createChallenge, wrong code',
        durationMs,
        maxRequests: 1e9,
        concurrency,
        onTick: tick,
        next: () => challengeRequest(seeded.auth, pool.wrongCode()),
        check: expectStatus('PENDING'),
      }),
    );
    const right = await scenario('rightCode', (tick) =>
      runLoad({
        url,
        name: 'a. createChallenge, right code',
        durationMs,
        maxRequests: 1e9,
        concurrency,
        onTick: tick,
        next: () => challengeRequest(seeded.auth, pool.right()),
        check: expectStatus('APPROVED'),
      }),
    );
    const rate = Math.max(1, Math.round(right.rps * 0.7));
    await scenario('rightCodeAt70', (tick) =>
      runLoad({
        url,
        name: `a. right code, open loop ${rate}/s (70 %)`,
        durationMs,
        maxRequests: 1e9,
        rate,
        concurrency: 256,
        onTick: tick,
        next: () => challengeRequest(seeded.auth, pool.right()),
        check: expectStatus('APPROVED'),
      }),
    );
  }
  // One account's chain head must not serialise its logins: 32 in flight on one account against
  // the same load spread over 32 accounts (one in flight each, on average).
  if (runs('accounts')) {
    for (const [key, name, p] of [
      ['oneAccount32', 'a1. right code, 1 account, 32 in flight', pool],
      ['accounts32', 'a32. right code, 32 accounts, 32 in flight', many],
    ] as const)
      await scenario(key, (tick) =>
        runLoad({
          url,
          name,
          durationMs,
          maxRequests: 1e9,
          concurrency: 32,
          onTick: tick,
          next: () => challengeRequest(seeded.auth, p.right()),
          check: expectStatus('APPROVED'),
        }),
      );
  }
  // The cheapest authenticated request: what Verity's plugins cost over a bare Yoga server.
  if (runs('overhead'))
    await scenario('viewer', (tick) =>
      runLoad({
        url,
        name: 'o. authenticated { viewer { sid } }',
        durationMs,
        maxRequests: 1e9,
        concurrency,
        onTick: tick,
        next: () => ({ headers: { authorization: seeded.auth }, body: JSON.stringify({ query: VIEWER_QUERY }) }),
        check: (status, body) => status === 200 && body.includes(seeded.accountSid) && !body.includes('"errors"'),
      }),
    );
  if (runs('enrolment'))
    await scenario('enrolment', (tick) =>
      enrolment({
        url,
        auth: seeded.auth,
        serviceSid: seeded.serviceSid,
        durationMs,
        maxOps: quick ? 1500 : 5000,
        concurrency,
        onTick: tick,
      }),
    );
  if (runs('reads'))
    await scenario('reads', (tick) =>
      runLoad({
        url,
        name: 'd. 50 challenges + factor',
        durationMs,
        maxRequests: 1e9,
        concurrency,
        onTick: tick,
        next: () => listRequest(seeded.auth, seeded.serviceSid, seeded.reader.identity, 50),
        check: expectPage(50),
      }),
    );

  // The ceilings again, now that the scenarios have run: a shared host's speed drifts over minutes,
  // and a ratio against the mean of a before and an after reading is less at the mercy of when
  // each was taken. The report shows after ÷ before, so the drift is visible too.
  log('baselines again:');
  results.baselinesAfter = await measureBaselines({ databaseUrl, durationMs, concurrency, log });

  // 4e (jobs path): challenges created through the API, one delayed job each, one expirationDate.
  if (runs('jobs')) {
    // Embedded: the API process owns the PGlite database, so there is no second reader to poll it.
    const verifier = embedded ? undefined : await openDatabase({ databaseUrl, migrate: false, poolSize: 2 });
    const expiresAt = new Date(Date.now() + (quick ? 15_000 : 30_000));
    const created = !verifier
      ? undefined
      : await runLoad({
          url,
          name: `e. creating ${jobsDrainN} challenges (jobs path)`,
          durationMs: expiresAt.getTime() - Date.now() - 2000,
          maxRequests: jobsDrainN,
          concurrency,
          next: () => ({
            headers: { authorization: seeded.auth },
            body: JSON.stringify({
              query: 'mutation($input: CreateChallengeInput!) { createChallenge(input: $input) { sid status } }',
              variables: { input: { factorSid: seeded.drain.factorSid, expirationDate: expiresAt.toISOString() } },
            }),
          }),
          check: expectStatus('PENDING'),
        });
    if (verifier && created) {
      const r = await measureDrain(verifier.prisma, seeded.drain, 'jobs', expiresAt, created.requests - created.errors, 120_000, () =>
        worker?.sample(),
      );
      results.expiry.push(r);
      log(
        `  e. expiry, jobs path: ${r.challenges} in ${r.drainSeconds} s (${r.perSecond}/s), lag p50 ${r.lagP50Ms} ms p99 ${r.lagP99Ms} ms`,
      );
      await clearDrain(verifier.prisma, seeded.drain);
      await verifier.close();
    } else {
      results.notes.push('jobs-path expiry not measured in embedded mode (the API process owns the PGlite database)');
    }
  }

  if (runs('import')) {
    results.import = await importThroughput({
      url,
      auth: seeded.auth,
      serviceSid: seeded.serviceSid,
      factors: Number(option('import-factors') ?? (quick ? 2000 : 10_000)),
      batch: 1000,
      oneByOneFactors: quick ? 500 : 2000,
      durationMs: Math.max(durationMs, 30_000),
      apiCpuMs: () => api.cpuMs(),
      db: databaseUrl ? () => pgBackends(databaseUrl) : undefined,
      log,
    });
  }
  if (runs('two') && worker && databaseUrl) {
    const port2 = await freePort();
    const api2 = startChild('src/main.ts', [], { ...apiEnv, PORT: String(port2) }, [...API_NODE_FLAGS, ...apiExtraFlags]);
    children.push(api2);
    await waitReady(api2, `http://127.0.0.1:${port2}/healthz`);
    const url2 = `http://127.0.0.1:${port2}/graphql`;
    await warmUp(url2);
    results.twoInstances = await twoInstances({
      apis: [
        { child: api, url },
        { child: api2, url: url2 },
      ],
      worker,
      databaseUrl,
      redisUrl: baseEnv.REDIS_URL!,
      db: () => pgBackends(databaseUrl),
      auth: seeded.auth,
      pool,
      factors: seeded.factors.length,
      durationMs,
      concurrency,
      log,
    });
    await api2.stop();
  }

  await api.stop();
  if (worker) {
    results.workerRssMb = worker.peakRssMb();
    await worker.stop();
  }
  if (profile) log(`CPU profile written to ${profDir}`);

  // Tracing on against off: the same right-code login on a second API process exporting every
  // span over OTLP/HTTP to a loopback sink (a bare node:http server answering 200), against
  // `rightCode` above (no OTEL_* variable: no OpenTelemetry SDK loaded).
  if (runs('traced')) {
    const sink = { requests: 0, bytes: 0 };
    const receiver = createServer((req, res) => {
      sink.requests++;
      req.on('data', (d: Buffer) => (sink.bytes += d.length));
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    }).listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const sinkUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
    const tracedPort = await freePort();
    // Factors no earlier run has charged with wrong codes (the guessing throttle would answer some).
    const tracedPool = new FactorPool(tracedFactors);
    const traced = startChild(
      'src/main.ts',
      [],
      {
        ...apiEnv,
        PORT: String(tracedPort),
        OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
        OTEL_SERVICE_NAME: 'verity-bench',
      },
      [...API_NODE_FLAGS, ...apiExtraFlags],
    );
    children.push(traced);
    try {
      await waitReady(traced, `http://127.0.0.1:${tracedPort}/healthz`);
      const tracedUrl = `http://127.0.0.1:${tracedPort}/graphql`;
      await runLoad({
        url: tracedUrl,
        name: 'warm-up traced',
        durationMs: 30_000,
        maxRequests: tracedFactors.length, // one wrong code each: the seeds cached, as for the run it is set against
        concurrency,
        next: () => challengeRequest(seeded.auth, tracedPool.wrongCode()),
        check: () => true,
      });
      const cpu0 = traced.cpuMs();
      traced.resetPeak();
      const r = await runLoad({
        url: tracedUrl,
        name: 'a-otel. right code, tracing on (OTLP/HTTP to a loopback sink)',
        durationMs,
        maxRequests: 1e9,
        concurrency,
        onTick: () => traced.sample(),
        next: () => challengeRequest(seeded.auth, tracedPool.right()),
        check: expectStatus('APPROVED'),
      });
      traced.sample();
      results.scenarios.rightCodeTraced = {
        ...r,
        rssMb: traced.peakRssMb(),
        cpuMsPerReq: round((traced.cpuMs() - cpu0) / Math.max(1, r.requests), 3),
      };
      await traced.stop(); // exports what is still buffered
      results.notes.push(`tracing on: the OTLP sink received ${sink.requests} export requests, ${round(sink.bytes / 1024, 0)} KiB`);
      log(
        `  ${r.name.padEnd(34)} ${String(r.rps).padStart(8)} /s  p50 ${r.p50} ms  p99 ${r.p99} ms  RSS ${traced.peakRssMb()} MB; sink: ${sink.requests} exports, ${round(sink.bytes / 1024, 0)} KiB`,
      );
    } finally {
      await traced.stop();
      receiver.close();
    }
  }

  // 5. Exact SQL statements per request, in-process.
  if (runs('statements')) {
    results.statements = await countStatements(baseEnv, seeded, spare);
    log(
      `statements per request: list ${JSON.stringify(results.statements.listByPageSize)} (by page size); createChallenge right ${results.statements.createChallengeRight}, wrong ${results.statements.createChallengeWrong}`,
    );
  }

  // 6. Expiry drain, bulk path: N pending rows, one expirationDate, reconciliation every 500 ms.
  if (runs('bulk')) {
    const reconcileMs = 500;
    let db: Database;
    let stopWorker: () => Promise<void>;
    let sample = () => {};
    if (embedded) {
      const config = loadConfig({ ...baseEnv, VERITY_RECONCILE_INTERVAL_MS: String(reconcileMs), LOG_LEVEL: 'warn' });
      const runtime = await openRuntime(config);
      db = runtime.db;
      await insertPending(db.prisma, seeded, drainN, new Date(Date.now() + 3_600_000), (k) =>
        progress(`  inserting pending challenges ${k}/${drainN}`),
      );
      await runtime.startWorkers();
      stopWorker = () => runtime.close();
    } else {
      // The sweep runs here, on Verity's own runtime (PostgreSQL + Redis event bus), every
      // reconcileMs: BullMQ's job scheduler did not honour a 500 ms `every` in this set-up (runs
      // came about every 15 s, or not at all after a scheduler with a longer period had run; see
      // RESULTS.md), and the figure wanted is the sweep's own rate and latency.
      const config = loadConfig({ ...baseEnv, LOG_LEVEL: 'warn' });
      const runtime = await openRuntime(config, { redisPrefix });
      db = runtime.db;
      await insertPending(db.prisma, seeded, drainN, new Date(Date.now() + 3_600_000), (k) =>
        progress(`  inserting pending challenges ${k}/${drainN}`),
      );
      let sweeping = true;
      const sweeper = (async () => {
        while (sweeping) {
          const next = Date.now() + reconcileMs;
          await reconcileExpiry(runtime.deps);
          await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
        }
      })();
      stopWorker = async () => {
        sweeping = false;
        await sweeper;
        await runtime.close();
      };
    }
    progressDone();
    const expiresAt = new Date(Date.now() + 3000);
    await db.prisma.challenge.updateMany({ where: { serviceSid: seeded.drain.serviceSid }, data: { expirationDate: expiresAt } });
    const r = await measureDrain(db.prisma, seeded.drain, 'bulk', expiresAt, drainN, quick ? 90_000 : 180_000, sample);
    results.expiry.push(r);
    results.notes.push(
      `bulk expiry: rows inserted directly (no per-challenge jobs); reconciliation every ${reconcileMs} ms (production default 15,000 ms)`,
    );
    log(`  e. expiry, bulk path: ${r.challenges} in ${r.drainSeconds} s (${r.perSecond}/s), lag p50 ${r.lagP50Ms} ms p99 ${r.lagP99Ms} ms`);
    // Sustained: the same rows again, now expiring at a steady 5,000/s (the target rate).
    const start = new Date(Date.now() + 3000);
    await spreadPending(db.prisma, seeded.drain, start, sustainedRate);
    const sr = await measureDrain(db.prisma, seeded.drain, 'sustained', start, drainN, quick ? 90_000 : 180_000, sample);
    results.expiry.push(sr);
    results.notes.push(
      `sustained expiry: the same ${drainN} rows made pending again, expiration dates spread evenly at ${sustainedRate}/s`,
    );
    log(
      `  e. expiry, sustained ${sustainedRate}/s: ${sr.challenges} in ${sr.drainSeconds} s (${sr.perSecond}/s), lag p50 ${sr.lagP50Ms} ms p99 ${sr.lagP99Ms} ms`,
    );
    await stopWorker();
  }

  report();
} finally {
  await cleanup();
  log(`done in ${round((Date.now() - t0) / 1000, 0)} s`);
}

// ------------------------------------------------------------------ report

/** Baselines whose req/s is the mean of the before and after readings (the rest from before). */
function meanBaselines(before: Baselines, after?: Baselines): Baselines {
  if (!after) return before;
  const mean = <T extends LoadResult>(x: T, y?: LoadResult): T => (y ? { ...x, rps: round((x.rps + y.rps) / 2, 1) } : x);
  return {
    rawHttp: mean(before.rawHttp, after.rawHttp),
    yoga: mean(before.yoga, after.yoga),
    ...(before.yogaQuery ? { yogaQuery: mean(before.yogaQuery, after.yogaQuery) } : {}),
    pgUpdate: mean(before.pgUpdate, after.pgUpdate),
  };
}

function report() {
  const before = results.baselines!;
  const after = results.baselinesAfter;
  const b = meanBaselines(before, after);
  const s = results.scenarios;
  const ratio = (x: number, y: number) => round(x / y, 3);
  const rows: string[] = [];
  rows.push(`| run | req/s | p50 ms | p99 ms | RSS MB | ÷ raw http | ÷ Yoga | ÷ PG UPDATE | CPU ms/req server | CPU ms/req DB |`);
  rows.push(`|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|`);
  const row = (r: LoadResult & { rssMb?: number; cpuMsPerReq?: number; dbCpuMsPerReq?: number }) =>
    rows.push(
      `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.rssMb ?? ''} | ${ratio(r.rps, b.rawHttp.rps)} | ${ratio(r.rps, b.yoga.rps)} | ${ratio(r.rps, b.pgUpdate.rps)} | ${r.cpuMsPerReq ?? ''} | ${r.dbCpuMsPerReq ?? ''} |`,
    );
  for (const [when, bs] of after
    ? ([
        ['before', before],
        ['after', after],
      ] as const)
    : ([['', before]] as const))
    for (const r of [bs.rawHttp, bs.yoga, bs.yogaQuery, bs.pgUpdate]) if (r) row({ ...r, name: when ? `${r.name} (${when})` : r.name });
  for (const r of Object.values(s)) row(r);
  const right = s.rightCode;
  const wrong = s.wrongCode;
  const at70 = s.rightCodeAt70;
  // The RSS target is the API as configured by default: the traced process (SDK loaded) is reported, not judged.
  const scen = Object.entries(s)
    .filter(([k]) => k !== 'rightCodeTraced')
    .map(([, r]) => r);
  const maxRss = scen.length ? Math.max(...scen.map((r) => r.rssMb)) : NaN;
  const bulk = results.expiry.find((e) => e.path === 'bulk');
  const sustained = results.expiry.find((e) => e.path === 'sustained');
  const lists = Object.values(results.statements?.listByPageSize ?? {});
  const na = 'not run';
  const viewer = s.viewer;
  const targets = [
    ['login ≥ 0.4 × trivial Yoga mutation', right ? ratio(right.rps, b.yoga.rps) : na, !!right && ratio(right.rps, b.yoga.rps) >= 0.4],
    ['login ≥ 0.2 × single-row UPDATE', right ? ratio(right.rps, b.pgUpdate.rps) : na, !!right && ratio(right.rps, b.pgUpdate.rps) >= 0.2],
    ['p99 ≤ 50 ms at 70 % of max throughput', at70 ? `${at70.p99} ms` : na, !!at70 && at70.p99 <= 50],
    [
      'wrong-code p50 ≤ 1.1 × right-code p50',
      right && wrong ? ratio(wrong.p50, right.p50) : na,
      !!right && !!wrong && wrong.p50 / right.p50 <= 1.1,
    ],
    [
      'authenticated trivial query ≥ 0.75 × trivial Yoga query',
      viewer && b.yogaQuery ? ratio(viewer.rps, b.yogaQuery.rps) : na,
      !!viewer && !!b.yogaQuery && viewer.rps / b.yogaQuery.rps >= 0.75,
    ],
    [
      'one account × 32 in flight ≥ 0.8 × 32 accounts (the chain head does not serialise)',
      s.oneAccount32 && s.accounts32 ? ratio(s.oneAccount32.rps, s.accounts32.rps) : na,
      !!s.oneAccount32 && !!s.accounts32 && s.oneAccount32.rps / s.accounts32.rps >= 0.8,
    ],
    [
      'login with tracing on ÷ off (req/s; issue 20: the cost both ways)',
      s.rightCodeTraced && right ? ratio(s.rightCodeTraced.rps, right.rps) : na,
      null, // a measured cost, not a target
    ],
    ['expiry ≥ 5,000 challenges/s', bulk ? `${bulk.perSecond}/s` : na, !!bulk && bulk.stillPending === 0 && bulk.perSecond >= 5000],
    ['expiry lag p99 ≤ 1 s (one-instant burst)', bulk ? `${bulk.lagP99Ms} ms` : na, !!bulk && bulk.lagP99Ms <= 1000],
    [
      `expiry lag p99 ≤ 1 s (sustained ${sustainedRate}/s)`,
      sustained ? `${sustained.lagP99Ms} ms at ${sustained.perSecond}/s` : na,
      !!sustained && sustained.stillPending === 0 && sustained.lagP99Ms <= 1000,
    ],
    ['API RSS ≤ 250 MB under load', scen.length ? `${maxRss} MB` : na, maxRss <= 250],
    [
      'constant SQL statements per list request',
      lists.length ? lists.join(' / ') : na,
      lists.length > 0 && lists.every((n) => n === lists[0]),
    ],
  ] as const;
  const drift = after
    ? `Baselines after ÷ before (the host's drift during the run; ratios above divide by the mean of both): ` +
      (
        [
          ['raw http', before.rawHttp, after.rawHttp],
          ['Yoga mutation', before.yoga, after.yoga],
          ['Yoga query', before.yogaQuery, after.yogaQuery],
          ['PG UPDATE', before.pgUpdate, after.pgUpdate],
        ] as const
      )
        .flatMap(([n, x, y]) => (x && y ? [`${n} ${ratio(y.rps, x.rps)}`] : []))
        .join(', ')
    : undefined;
  if (drift) (results as Record<string, unknown>).baselineDrift = drift;
  const spent = Object.values(results.scenarios).filter((r) => r.spent);
  const spentNote = spent.length
    ? `Ended early, every factor's fresh steps spent (fewer requests than the duration asked for; raise --factors): ${spent.map((r) => `${r.name} at ${r.seconds} s`).join(', ')}`
    : undefined;
  const lines = [
    '',
    ...rows,
    ...(drift ? ['', drift] : []),
    ...(spentNote ? ['', spentNote] : []),
    '',
    '| expiry path | challenges | drain s | per s | lag p50 ms | lag p99 ms | lag max ms | still pending |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.expiry.map(
      (e) =>
        `| ${e.path} | ${e.challenges} | ${e.drainSeconds} | ${e.perSecond} | ${e.lagP50Ms} | ${e.lagP99Ms} | ${e.lagMaxMs} | ${e.stillPending} |`,
    ),
    '',
    ...(results.import
      ? [
          '| import | factors | s | factors/s | CPU ms/factor API | CPU ms/factor DB |',
          '|---|---:|---:|---:|---:|---:|',
          ...[results.import.import, results.import.oneByOne].map(
            (r) =>
              `| ${r.name} | ${r.factors} | ${r.seconds} | ${r.factorsPerSecond} | ${r.apiCpuMsPerFactor} | ${r.dbCpuMsPerFactor ?? ''} |`,
          ),
          `| import ÷ one at a time | | | ${results.import.ratio} | | |`,
          '',
        ]
      : []),
    ...(results.twoInstances
      ? [
          '| instances | logins/s | p50 ms | p99 ms | CPU ms/login API | worker | DB | Redis (shared, ≤) |',
          '|---|---:|---:|---:|---:|---:|---:|---:|',
          ...results.twoInstances.runs.map(
            (r) =>
              `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.apiCpuMsPerLogin} | ${r.workerCpuMsPerLogin} | ${r.dbCpuMsPerLogin} | ${r.redisCpuMsPerLogin ?? ''} |`,
          ),
          `| two ÷ one (mean of both single runs) | ${results.twoInstances.ratio} | | | | | | |`,
          '',
          `Stored per approved login (${results.twoInstances.storage.logins} logins): ${results.twoInstances.storage.bytesPerLogin} bytes — ` +
            results.twoInstances.storage.tables.map((t) => `${t.table} ${t.bytesPerLogin} B / ${t.rowsPerLogin} rows`).join(', '),
          '',
        ]
      : []),
    '| target | measured | met |',
    '|---|---:|:---:|',
    ...targets.map(([t, m, ok]) => `| ${t} | ${m} | ${ok === null ? '—' : ok ? 'yes' : '**no**'} |`),
    '',
  ];
  (results as Record<string, unknown>).targets = targets.map(([target, measured, met]) => ({ target, measured, met }));
  process.stdout.write(lines.join('\n') + '\n');
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  log(`results written to ${out}`);
}
