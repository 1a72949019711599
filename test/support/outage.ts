import { Writable } from 'node:stream';
import { print } from 'graphql';
import { pino } from 'pino';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { loadConfig, type Config } from '../../src/config.ts';
import { listen, type HttpServer } from '../../src/http.ts';
import { openRuntime, type Runtime } from '../../src/runtime.ts';
import { randomPrefix } from './random-prefix.ts';
import { createApp } from '../../src/server.ts';
import type { AppDeps } from '../../src/deps.ts';
import { createAccount } from '../../src/services/accounts.ts';
import { ADMIN_TOKEN, TEST_KEYS, TestClock, basic, deleteRedisPrefix, freshDatabase, type GqlResult, type Tenant } from './app.ts';
import { CreateService, CreateTotpFactor, VerifyFactor } from './documents.ts';
import { oathCode, unix } from './oath.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

export const DATABASE_URL = process.env.DATABASE_URL;
export const REDIS_URL = process.env.REDIS_URL;
/** Outage tests need real network dependencies to cut; embedded mode has none (PGlite, in-process jobs). */
export const NO_NETWORK_DEPENDENCIES = !DATABASE_URL || !REDIS_URL;

/** Short deadlines so tests measure the mechanism, not the production defaults. */
export const OUTAGE_ENV = {
  VERITY_DB_CONNECT_TIMEOUT_MS: '1000',
  VERITY_DB_STATEMENT_TIMEOUT_MS: '1000',
  VERITY_REDIS_COMMAND_TIMEOUT_MS: '500',
  VERITY_RECONCILE_INTERVAL_MS: '300',
};

export interface OutageApp {
  config: Config;
  deps: AppDeps;
  runtime: Runtime;
  clock: TestClock;
  http: HttpServer;
  port: number;
  prefix: string;
  /** Between Verity and PostgreSQL / Redis. */
  pgProxy: TcpProxy;
  redisProxy: TcpProxy;
  /** The test's own connection to the same database, not through the proxy: to check what was stored. */
  direct: Awaited<ReturnType<typeof freshDatabase>>;
  /** Every log line Verity wrote, unredacted (so a secret that reached the logger would show). */
  logs: string[];
  /** GraphQL over real HTTP; the HTTP status comes back with the body. */
  gql<R, V>(doc: TypedDocumentNode<R, V>, variables: V, authorization?: string): Promise<GqlResult<R> & { ms: number }>;
  ok<R, V>(doc: TypedDocumentNode<R, V>, variables: V, authorization?: string): Promise<R>;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  newAccount(name?: string): Promise<Tenant>;
  close(): Promise<void>;
}

/**
 * A Verity instance (API + workers in one process, real HTTP and WebSocket on an ephemeral port)
 * whose PostgreSQL and Redis links each run through a TCP proxy the test can cut and restore.
 */
export async function startOutageApp(env: Record<string, string> = {}): Promise<OutageApp> {
  const direct = await freshDatabase();
  const dbUrl = new URL(direct.url!);
  const redisUrl = new URL(REDIS_URL!);
  const pgProxy = await startTcpProxy({ host: dbUrl.hostname, port: Number(dbUrl.port || 5432) });
  const redisProxy = await startTcpProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
  const config = loadConfig({
    DATABASE_URL: pgProxy.rewrite(direct.url!),
    REDIS_URL: redisProxy.rewrite(REDIS_URL!),
    VERITY_ADMIN_TOKEN: ADMIN_TOKEN,
    VERITY_ENCRYPTION_KEYS: TEST_KEYS,
    VERITY_RUN_WORKERS: 'true',
    ...OUTAGE_ENV,
    ...env,
  });
  const logs: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString());
        cb();
      },
    }),
  );
  const clock = new TestClock();
  const prefix = randomPrefix('verity-outage');
  const runtime = await openRuntime(config, { now: clock.now, redisPrefix: prefix, logger });
  const { deps } = runtime;
  await runtime.startWorkers();
  const http = await listen(createApp(deps), { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 100 });
  const base = `http://127.0.0.1:${http.port}`;

  async function gql<R, V>(doc: TypedDocumentNode<R, V>, variables: V, authorization?: string) {
    const t0 = performance.now();
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ query: print(doc), variables }),
    });
    const body = (await res.json()) as GqlResult<R>;
    return { ...body, status: res.status, ms: performance.now() - t0 };
  }
  return {
    config,
    deps,
    runtime,
    clock,
    http,
    port: http.port,
    prefix,
    pgProxy,
    redisProxy,
    direct,
    logs,
    gql,
    async ok(doc, variables, authorization) {
      const r = await gql(doc, variables, authorization);
      if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
      return r.data!;
    },
    fetch: (path, init) => fetch(`${base}${path}`, init),
    async newAccount(name = 'Tenant') {
      const { account, authToken } = await createAccount(deps, { kind: 'operator' }, { friendlyName: name });
      return { sid: account.sid, token: authToken, auth: basic(account.sid, authToken) };
    },
    async close() {
      await pgProxy.restore();
      await redisProxy.restore();
      await http.close();
      await runtime.close();
      await Promise.all([pgProxy.close(), redisProxy.close()]);
      await direct.close();
      await deleteRedisPrefix(REDIS_URL!, prefix);
    },
  };
}

let enrolled = 0;

/** A service and a VERIFIED factor, enrolled over the API; `code()` is the code at the test clock's now. */
export async function enrol(t: OutageApp, tenant: Tenant, serviceSid?: string) {
  const service = serviceSid ?? (await t.ok(CreateService, { input: { friendlyName: 'Outage' } }, tenant.auth)).createService.sid;
  const identity = `outage-user-${process.pid}-${++enrolled}`;
  const { createTotpFactor } = await t.ok(
    CreateTotpFactor,
    { input: { serviceSid: service, identity, friendlyName: 'Phone' } },
    tenant.auth,
  );
  const secret = createTotpFactor.binding.secret;
  await t.ok(
    VerifyFactor,
    { input: { factorSid: createTotpFactor.factor.sid, authPayload: oathCode(secret, {}, unix(t.clock.now())) } },
    tenant.auth,
  );
  return {
    serviceSid: service,
    identity,
    factorSid: createTotpFactor.factor.sid,
    secret,
    code: () => oathCode(secret, {}, unix(t.clock.now())),
  };
}

/** Milliseconds since t0, rounded. */
export const since = (t0: number) => Math.round(performance.now() - t0);

export function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { n: s.length, p50: Math.round(at(0.5)), max: Math.round(s[s.length - 1] ?? NaN) };
}
