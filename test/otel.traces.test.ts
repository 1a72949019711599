import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEntries, ENTRIES, distPath } from '../scripts/build.ts';
import { randomPrefix } from './support/random-prefix.ts';
import { ADMIN_TOKEN, TEST_KEYS, basic, freshDatabase } from './support/app.ts';
import { CreateAccount, CreateChallenge, CreateService, CreateTotpFactor, CreateWebhook, VerifyFactor } from './support/documents.ts';
import { waitUntil, WAIT_MS } from './support/live.ts';
import { oathCode } from './support/oath.ts';
import { gqlAt, listeningPort, runBuilt, type Proc } from './support/process.ts';
import { Receiver } from './support/receiver.ts';

// OpenTelemetry end to end: the built API and worker (as `npm start` / `npm run worker` run them)
// export to a real OTLP/HTTP receiver on loopback (the JSON encoding, OTEL_EXPORTER_OTLP_PROTOCOL
// http/json). Only the spec's own variables switch it on.

interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
  /** Everything the span carries as text (name, attributes, events, links), for the secrets check. */
  text: string;
}

type KeyValue = { key: string; value: Record<string, unknown> };
const attrs = (list: KeyValue[] | undefined) => Object.fromEntries((list ?? []).map((a) => [a.key, Object.values(a.value)[0]]));

/** An OTLP/HTTP trace receiver (POST /v1/traces, JSON body), as a collector would be. */
class OtlpReceiver {
  readonly spans: ExportedSpan[] = [];
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    let self: OtlpReceiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        self!.add(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new OtlpReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return self;
  }

  private add(body: {
    resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[];
  }) {
    for (const rs of body.resourceSpans ?? []) {
      const service = String(attrs(rs.resource?.attributes)['service.name']);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const span = s as {
            traceId: string;
            spanId: string;
            parentSpanId?: string;
            name: string;
            kind: number;
            attributes?: KeyValue[];
            links?: { traceId: string; spanId: string }[];
          };
          this.spans.push({
            service,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            name: span.name,
            kind: span.kind,
            attributes: attrs(span.attributes),
            links: span.links ?? [],
            text: JSON.stringify({ resource: rs.resource, span: s }),
          });
        }
      }
    }
  }

  async find(what: string, pred: (s: ExportedSpan) => boolean): Promise<ExportedSpan> {
    await waitUntil(() => this.spans.some(pred), WAIT_MS, what);
    return this.spans.find(pred)!;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CONSUMER = 5;

describe('tracing off: the entry points load no OpenTelemetry code', () => {
  // What a process loads when OTEL_EXPORTER_OTLP_ENDPOINT is unset: each entry file's static
  // imports, and the static imports of the server/worker chunk it then imports, transitively.
  it('no @opentelemetry, bullmq-otel or @envelop/opentelemetry import is reachable without the variable', async () => {
    await buildEntries();
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s*"([^"]+)"|^\s*import\s*"([^"]+)"/gm)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('.')) visit(new URL(spec, `file://${file}`).pathname);
        else packages.add(spec);
      }
      // The one dynamic import each entry makes unconditionally: the server or worker itself.
      for (const m of src.matchAll(/await import\("(\.[^"]+(?:api|worker)-[^"]+)"\)/g)) visit(new URL(m[1]!, `file://${file}`).pathname);
    };
    const root = new URL('../', import.meta.url).pathname;
    for (const entry of ENTRIES) visit(`${root}${distPath(entry)}`);
    expect(seen.size).toBeGreaterThan(ENTRIES.length * 2); // the server and worker chunks were followed
    expect([...packages].filter((p) => /opentelemetry|otel|@bull-board|^hono/.test(p))).toEqual([]);
    expect(packages).toContain('pg');
  });
});

// Production mode only: pg, ioredis and BullMQ spans exist only there (embedded mode runs PGlite and
// in-process jobs); the embedded pass checks the untraced build above.
describe.runIf(databaseUrl && redisUrl)('OpenTelemetry traces (API and worker over OTLP/HTTP, production mode)', () => {
  const prefix = randomPrefix('verity-otel');
  const procs: Proc[] = [];
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let otlp: OtlpReceiver;
  let hooks: Receiver;
  let port = 0;

  beforeAll(async () => {
    [db, otlp, hooks] = await Promise.all([freshDatabase(), OtlpReceiver.start(), Receiver.start(), buildEntries()]);
    const env = {
      DATABASE_URL: db.url!,
      REDIS_URL: redisUrl,
      VERITY_REDIS_PREFIX: prefix,
      VERITY_ENCRYPTION_KEYS: TEST_KEYS,
      VERITY_ADMIN_TOKEN: ADMIN_TOKEN,
      VERITY_RUN_WORKERS: 'false',
      VERITY_RECONCILE_INTERVAL_MS: '60000',
      VERITY_WEBHOOK_ALLOW_PRIVATE: 'true',
      // The OpenTelemetry spec's variables, nothing of ours.
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_SERVICE_NAME: undefined,
    };
    procs.push(runBuilt(distPath('src/main.ts'), { ...env, PORT: '0' }), runBuilt(distPath('workers/main.ts'), env));
    [port] = await Promise.all([listeningPort(procs[0]!, 120_000), procs[1]!.waitFor(/worker started/, 120_000)]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all([otlp?.close(), hooks?.close(), db?.close()]);
  });

  const gql = <R, V>(doc: TypedDocumentNode<R, V>, variables: V, authorization: string) => gqlAt(port, doc, variables, authorization);

  const inTrace = (traceId: string) => otlp.spans.filter((s) => s.traceId === traceId);

  it(
    'one login is one trace: HTTP, the GraphQL operation by field, PostgreSQL and Redis; its webhook job and the outgoing request carry it; no secret in any attribute',
    { timeout: 90_000 },
    async () => {
      const { createAccount } = await gql(CreateAccount, { input: { friendlyName: 'Traced' } }, `Bearer ${ADMIN_TOKEN}`);
      const auth = basic(createAccount.account.sid, createAccount.authToken);
      const serviceSid = (await gql(CreateService, { input: { friendlyName: 'Traced' } }, auth)).createService.sid;
      const hookToken = 'hook-query-secret-9f8e7d6c5b4a';
      const { createWebhook } = await gql(
        CreateWebhook,
        {
          input: {
            serviceSid,
            friendlyName: 'traced',
            eventTypes: ['challenge.approved'],
            webhookUrl: `${hooks.url('/hook')}?token=${hookToken}`,
            signing: 'STANDARD',
          },
        },
        auth,
      );
      const f = (await gql(CreateTotpFactor, { input: { serviceSid, identity: 'traced-user-01', friendlyName: 'Phone' } }, auth))
        .createTotpFactor;
      const now = () => Math.floor(Date.now() / 1000);
      const enrolCode = oathCode(f.binding.secret, {}, now());
      await gql(VerifyFactor, { input: { factorSid: f.factor.sid, authPayload: enrolCode } }, auth);
      // The next step's code: inside the skew window, not yet used by the enrolment.
      const code = oathCode(f.binding.secret, {}, now() + 30);

      const login = await gql(CreateChallenge, { input: { factorSid: f.factor.sid, authPayload: code } }, auth);
      expect(login.createChallenge.status).toBe('APPROVED');

      const op = await otlp.find('the createChallenge span', (s) => s.name === 'mutation createChallenge');
      expect(op.service).toBe('verity-api');
      expect(op.attributes['graphql.operation.field']).toBe('createChallenge');
      const traceId = op.traceId;
      const http = await otlp.find('the login request span', (s) => s.traceId === traceId && s.kind === SPAN_KIND_SERVER);
      expect(http.parentSpanId).toBeUndefined();
      expect(op.parentSpanId).toBe(http.spanId);
      await otlp.find(
        'a PostgreSQL statement in the login',
        (s) => s.traceId === traceId && s.attributes['db.system.name'] === 'postgresql',
      );
      await otlp.find('a Redis call in the login', (s) => s.traceId === traceId && s.attributes['db.system.name'] === 'redis');
      // One login, one trace: the login's HTTP request has no second root.
      expect(inTrace(traceId).filter((s) => s.kind === SPAN_KIND_SERVER && s.service === 'verity-api')).toHaveLength(1);

      // challenge.approved → a delivery job enqueued by the login → run by the worker → POSTed with the login's traceparent.
      const job = await otlp.find(
        'the webhook delivery job span',
        (s) => s.service === 'verity-worker' && s.kind === SPAN_KIND_CONSUMER && s.traceId === traceId,
      );
      const delivered = await hooks.next();
      const traceparent = String(delivered.headers.traceparent ?? '');
      expect(traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`));
      const outgoing = await otlp.find('the outgoing webhook span', (s) => s.traceId === traceId && s.spanId === traceparent.split('-')[2]);
      expect(outgoing.service).toBe('verity-worker');
      expect(inTrace(traceId).some((s) => s.spanId === outgoing.parentSpanId)).toBe(true);
      expect(job.traceId).toBe(traceId);

      // No seed, token, code or variable value anywhere in what was exported.
      const secrets = {
        seed: f.binding.secret,
        authToken: createAccount.authToken,
        operatorToken: ADMIN_TOKEN,
        signingSecret: createWebhook.signingSecret!,
        webhookQueryToken: hookToken,
      };
      const everything = otlp.spans.map((s) => s.text).join('\n');
      for (const [what, value] of Object.entries(secrets)) expect(everything.includes(value), what).toBe(false);
      for (const c of [code, enrolCode]) expect(everything, 'a code').not.toMatch(new RegExp(`(^|\\D)${c}(\\D|$)`));
      expect(everything).not.toContain('authPayload');
    },
  );

  it('an expiry job runs in the trace of the request that created the challenge', { timeout: 90_000 }, async () => {
    const { createAccount } = await gql(CreateAccount, { input: { friendlyName: 'Expiring' } }, `Bearer ${ADMIN_TOKEN}`);
    const auth = basic(createAccount.account.sid, createAccount.authToken);
    const serviceSid = (await gql(CreateService, { input: { friendlyName: 'Expiring' } }, auth)).createService.sid;
    const f = (await gql(CreateTotpFactor, { input: { serviceSid, identity: 'expiring-user-01', friendlyName: 'Phone' } }, auth))
      .createTotpFactor;
    await gql(
      VerifyFactor,
      { input: { factorSid: f.factor.sid, authPayload: oathCode(f.binding.secret, {}, Math.floor(Date.now() / 1000)) } },
      auth,
    );
    // Soon enough to run during the test, late enough that creation does not refuse it as past.
    const expirationDate = new Date(Date.now() + 3_000).toISOString();
    const c = (await gql(CreateChallenge, { input: { factorSid: f.factor.sid, expirationDate } }, auth)).createChallenge;
    expect(c.status).toBe('PENDING');

    // The job id names the challenge (SIDs only, never a secret), so this is that challenge's job.
    const job = await otlp.find(
      'the expiry job span',
      (s) =>
        s.service === 'verity-worker' &&
        s.kind === SPAN_KIND_CONSUMER &&
        s.attributes['bullmq.job.name'] === 'expire-challenge' &&
        String(s.attributes['bullmq.job.id']).includes(c.sid),
    );
    // Parent or link: either way the job leads back to the request that created the challenge.
    const origins = [job.parentSpanId ? job.traceId : undefined, ...job.links.map((l) => l.traceId)];
    const creating = await otlp.find(
      'the creating request',
      (s) => s.service === 'verity-api' && s.kind === SPAN_KIND_SERVER && origins.includes(s.traceId),
    );
    expect(
      otlp.spans.some((s) => s.traceId === creating.traceId && s.name === 'mutation createChallenge' && s.parentSpanId === creating.spanId),
    ).toBe(true);
  });
});
