import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type HttpServer } from '../src/http.ts';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateChallenge, VerifyChallenge } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { redisSubscribers, waitUntil, wsClient, WAIT_MS } from './support/live.ts';

// A frontend client nobody here wrote: Apollo Client with its default InMemoryCache and no type
// policies normalises objects by __typename + id. With id == SID (Node), a mutation's or a
// subscription event's object lands on the cached query's object without a refetch.

let t: TestApp;
let http: HttpServer;
let a: Tenant;
const redisUrl = process.env.REDIS_URL;

beforeAll(async () => {
  t = await startTestApp(redisUrl ? { REDIS_URL: redisUrl } : {});
  http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10 });
  a = await t.newAccount('Apollo');
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

/** An Apollo Client over HTTP (queries, mutations) and graphql-ws (subscriptions), counting HTTP requests. */
function apollo(authorization: string) {
  const requests: string[] = [];
  const counting: typeof fetch = async (input, init) => {
    requests.push(JSON.parse(String(init?.body)).operationName as string);
    return fetch(input, init);
  };
  const ws = wsClient(http.port, { authorization });
  const link = ApolloLink.split(
    ({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === 'OperationDefinition' && def.operation === 'subscription';
    },
    new GraphQLWsLink(ws),
    new HttpLink({ uri: `http://127.0.0.1:${http.port}/graphql`, headers: { authorization }, fetch: counting }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  return {
    client,
    requests,
    close: () => {
      client.stop();
      return ws.dispose();
    },
  };
}

const FACTOR = gql`
  query Factor($sid: ID!) {
    factor(sid: $sid) {
      id
      friendlyName
      status
    }
  }
`;
const UPDATE_FACTOR = gql`
  mutation Rename($input: UpdateFactorInput!) {
    updateFactor(input: $input) {
      id
      friendlyName
    }
  }
`;
const CHALLENGE = gql`
  query Challenge($sid: ID!) {
    challenge(sid: $sid) {
      id
      status
    }
  }
`;
const CHALLENGE_UPDATED = gql`
  subscription Watch($sid: ID!) {
    challengeUpdated(challengeSid: $sid) {
      id
      status
    }
  }
`;

describe('Apollo Client, default InMemoryCache', () => {
  it('an updateFactor mutation updates the cached factor query without a refetch', async () => {
    const f = await verifiedFactor(t, a);
    const { client, requests, close } = apollo(a.auth);
    try {
      const seen: string[] = [];
      const watched = client.watchQuery({ query: FACTOR, variables: { sid: f.factorSid } }).subscribe({
        next: (r) => {
          const name = (r.data as { factor?: { friendlyName: string } } | undefined)?.factor?.friendlyName;
          if (name) seen.push(name);
        },
      });
      await waitUntil(() => seen.includes('Phone'), WAIT_MS, 'the factor query');

      await client.mutate({ mutation: UPDATE_FACTOR, variables: { input: { factorSid: f.factorSid, friendlyName: 'Work phone' } } });

      // The watched query saw the new name from the cache; the cache answers it without the network.
      await waitUntil(() => seen.includes('Work phone'), WAIT_MS, 'the watched query to show the new name');
      const cached = client.readQuery({ query: FACTOR, variables: { sid: f.factorSid } }) as {
        factor: { id: string; friendlyName: string };
      };
      expect(cached.factor).toMatchObject({ id: f.factorSid, friendlyName: 'Work phone' });
      expect((client.cache.extract() as Record<string, unknown>)[`Factor:${f.factorSid}`]).toMatchObject({
        friendlyName: 'Work phone',
        status: 'VERIFIED',
      });
      expect(requests).toEqual(['Factor', 'Rename']); // one query, one mutation: no refetch
      watched.unsubscribe();
    } finally {
      await close();
    }
  });

  it('a challengeUpdated event over graphql-ws updates the cached challenge query', async () => {
    const f = await verifiedFactor(t, a);
    const c = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
    const { client, requests, close } = apollo(a.auth);
    try {
      const first = (await client.query({ query: CHALLENGE, variables: { sid: c.sid } })).data as { challenge: { status: string } };
      expect(first.challenge.status).toBe('PENDING');

      const events: string[] = [];
      const before = t.deps.events.activeSubscriptions();
      const sub = client.subscribe({ query: CHALLENGE_UPDATED, variables: { sid: c.sid } }).subscribe({
        next: (r) => events.push((r.data as { challengeUpdated: { status: string } }).challengeUpdated.status),
      });
      await waitUntil(() => t.deps.events.activeSubscriptions() > before, WAIT_MS, 'the server to hold the subscription');
      if (redisUrl)
        await waitUntil(async () => (await redisSubscribers(redisUrl, t.runtime.redisPrefix, a.sid)) >= 1, WAIT_MS, 'redis subscription');

      // Another client (not Apollo) approves the challenge.
      await t.ok(VerifyChallenge, { input: { challengeSid: c.sid, authPayload: f.code() } }, a.auth);
      await waitUntil(() => events.includes('APPROVED'), WAIT_MS, 'the APPROVED event');

      const cached = client.readQuery({ query: CHALLENGE, variables: { sid: c.sid } }) as { challenge: { id: string; status: string } };
      expect(cached.challenge).toEqual({ __typename: 'Challenge', id: c.sid, status: 'APPROVED' });
      const again = await client.query({ query: CHALLENGE, variables: { sid: c.sid }, fetchPolicy: 'cache-only' });
      expect((again.data as { challenge: { status: string } }).challenge.status).toBe('APPROVED');
      expect(requests).toEqual(['Challenge']); // the event, not a refetch, changed the cache
      sub.unsubscribe();
    } finally {
      await close();
    }
  });
});
