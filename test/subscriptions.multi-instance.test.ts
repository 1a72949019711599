import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomPrefix } from './support/random-prefix.ts';
import { ADMIN_TOKEN, TEST_KEYS, basic, freshDatabase } from './support/app.ts';
import {
  ChallengeUpdated,
  CreateAccount,
  CreateChallenge,
  CreateService,
  CreateTotpFactor,
  VerifyChallenge,
  VerifyFactor,
} from './support/documents.ts';
import { next, redisSubscribers, waitUntil, wsClient, WAIT_MS } from './support/live.ts';
import { oathCode } from './support/oath.ts';
import { gqlAt, listeningPort, runEntry, type Proc } from './support/process.ts';

// Two API processes and one worker process sharing PostgreSQL and Redis: a subscriber on A sees
// a change made on B and an expiry done by the worker, in order; another tenant sees nothing.
const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;

describe.runIf(databaseUrl && redisUrl)('subscriptions across instances (Redis pub/sub)', () => {
  const prefix = randomPrefix('verity-multi');
  const procs: Proc[] = [];
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let portA = 0;
  let portB = 0;

  beforeAll(async () => {
    db = await freshDatabase();
    const env = {
      DATABASE_URL: db.url!,
      REDIS_URL: redisUrl,
      VERITY_REDIS_PREFIX: prefix,
      VERITY_ENCRYPTION_KEYS: TEST_KEYS,
      VERITY_ADMIN_TOKEN: ADMIN_TOKEN,
      VERITY_RUN_WORKERS: 'false',
      VERITY_RECONCILE_INTERVAL_MS: '60000',
    };
    // PORT=0: each API process binds a port of its own and logs it (none picked beforehand that
    // another process could take first). Three processes start at once on a loaded box: allow for it.
    procs.push(runEntry('src/main.ts', { ...env, PORT: '0' }), runEntry('src/main.ts', { ...env, PORT: '0' }));
    procs.push(runEntry('workers/main.ts', env));
    [portA, portB] = await Promise.all([
      listeningPort(procs[0]!, 150_000),
      listeningPort(procs[1]!, 150_000),
      procs[2]!.waitFor(/worker started/, 150_000),
    ]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await db?.close();
  });

  const gql = gqlAt;

  async function tenant(name: string) {
    const { createAccount } = await gql(portA, CreateAccount, { input: { friendlyName: name } }, `Bearer ${ADMIN_TOKEN}`);
    const auth = basic(createAccount.account.sid, createAccount.authToken);
    const serviceSid = (await gql(portB, CreateService, { input: { friendlyName: name } }, auth)).createService.sid;
    const identity = `${name.toLowerCase()}-user-01`;
    const f = (await gql(portB, CreateTotpFactor, { input: { serviceSid, identity, friendlyName: 'Phone' } }, auth)).createTotpFactor;
    const now = () => Math.floor(Date.now() / 1000);
    await gql(portB, VerifyFactor, { input: { factorSid: f.factor.sid, authPayload: oathCode(f.binding.secret, {}, now()) } }, auth);
    // The enrolment used this step; the next step's code is inside the skew window and still fresh.
    const nextCode = () => oathCode(f.binding.secret, {}, now() + 30);
    return { sid: createAccount.account.sid, auth, serviceSid, factorSid: f.factor.sid, nextCode };
  }

  it(
    'subscribe on A, approve on B, expire in the worker: both arrive at A in order; another tenant gets nothing',
    { timeout: 120_000 },
    async () => {
      const x = await tenant('X');
      const y = await tenant('Y');
      const xClient = wsClient(portA, { authorization: x.auth });
      const yClient = wsClient(portA, { authorization: y.auth });
      const xs = xClient.iterate({ query: print(ChallengeUpdated), variables: { serviceSid: x.serviceSid } })[Symbol.asyncIterator]();
      const ySpy = yClient.iterate({ query: print(ChallengeUpdated), variables: { serviceSid: x.serviceSid } })[Symbol.asyncIterator]();
      const yOwn = yClient.iterate({ query: print(ChallengeUpdated), variables: { serviceSid: y.serviceSid } })[Symbol.asyncIterator]();
      const xFirst = xs.next();
      const yFirst = Promise.race([ySpy.next().then((r) => ({ from: 'spy', r })), yOwn.next().then((r) => ({ from: 'own', r }))]);
      await waitUntil(
        async () => (await redisSubscribers(redisUrl!, prefix, x.sid)) >= 1 && (await redisSubscribers(redisUrl!, prefix, y.sid)) >= 1,
        WAIT_MS,
        'A listening on Redis',
      );

      const c1 = (await gql(portB, CreateChallenge, { input: { factorSid: x.factorSid } }, x.auth)).createChallenge;
      const verifiedAt = Date.now();
      await gql(portB, VerifyChallenge, { input: { challengeSid: c1.sid, authPayload: x.nextCode() } }, x.auth);
      // Far enough ahead that the request (two processes away, on a loaded box) lands before it:
      // creation refuses an expirationDate already past.
      const expiresAt = new Date(Date.now() + 5_000);
      const c2 = (await gql(portB, CreateChallenge, { input: { factorSid: x.factorSid, expirationDate: expiresAt.toISOString() } }, x.auth))
        .createChallenge;

      const seen = [(await xFirst).value, await next(xs), await next(xs)];
      const approvedAfterMs = Date.now() - verifiedAt;
      seen.push(await next(xs)); // the worker's expiry
      const expiredLagMs = Date.now() - expiresAt.getTime();
      const flat = seen.map((v) => (v as { data: { challengeUpdated: { sid: string; status: string } } }).data.challengeUpdated);
      expect(flat.map((c) => [c.sid, c.status])).toEqual([
        [c1.sid, 'PENDING'],
        [c1.sid, 'APPROVED'],
        [c2.sid, 'PENDING'],
        [c2.sid, 'EXPIRED'],
      ]);
      console.log(`cross-instance: APPROVED seen ${approvedAfterMs} ms after verify; EXPIRED ${expiredLagMs} ms after expirationDate`);

      // Y filtered by X's service the whole time; its first event is its own.
      const yc = (await gql(portB, CreateChallenge, { input: { factorSid: y.factorSid } }, y.auth)).createChallenge;
      const firstForY = await yFirst;
      expect(firstForY.from).toBe('own');
      expect(JSON.stringify(firstForY.r.value)).toContain(yc.sid);
      await xClient.dispose();
      await yClient.dispose();
    },
  );
});
