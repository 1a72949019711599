import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { CreateChallenge, CreateWebhook } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { waitUntil } from './support/live.ts';

// Relay Global Object Identification: every resource implements Node with id == SID, and
// node/nodes answer for the caller's own account only (DESIGN.md "Tenancy": another tenant's SID
// reads exactly like one that does not exist).

let t: TestApp;
let a: Tenant;
let b: Tenant;
/** One SID of every Node type, all in account A. */
let ids: Record<string, string>;

interface Result {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}
async function run(query: string, variables: Record<string, unknown>, authorization?: string): Promise<Result> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization) headers.authorization = authorization;
  const res = await t.app.fetch('http://verity.test/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as Result;
}

const NODE = 'query ($id: ID!) { node(id: $id) { __typename id ... on Factor { friendlyName } ... on Service { friendlyName } } }';
const NODES = 'query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }';

beforeAll(async () => {
  t = await startTestApp({ VERITY_WEBHOOK_ALLOW_PRIVATE: 'true', VERITY_RECONCILE_INTERVAL_MS: '3600000' });
  a = await t.newAccount('A');
  b = await t.newAccount('B');
  const f = await verifiedFactor(t, a);
  const webhook = (
    await t.ok(
      CreateWebhook,
      {
        input: {
          serviceSid: f.serviceSid,
          friendlyName: 'Hook',
          webhookUrl: 'http://127.0.0.1:9/hook',
          eventTypes: ['challenge.approved'],
        },
      },
      a.auth,
    )
  ).createWebhook.webhook;
  const challenge = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid, authPayload: f.code() } }, a.auth)).createChallenge;
  expect(challenge.status).toBe('APPROVED');
  const lookups = async () =>
    run(
      `query ($s: ID!, $i: String!, $w: ID!) {
        viewer { sid }
        entity(serviceSid: $s, identity: $i) { sid }
        webhookDeliveries(webhookSid: $w) { edges { node { sid } } }
        auditEvents(first: 1) { edges { node { sid } } }
      }`,
      { s: f.serviceSid, i: f.identity, w: webhook.sid },
      a.auth,
    );
  // The delivery row is written by the approval's event fan-out, after the mutation answered.
  await waitUntil(
    async () => ((await lookups()).data?.webhookDeliveries as { edges: unknown[] }).edges.length > 0,
    undefined,
    'a webhook delivery',
  );
  const d = (await lookups()).data as {
    viewer: { sid: string };
    entity: { sid: string };
    webhookDeliveries: { edges: { node: { sid: string } }[] };
    auditEvents: { edges: { node: { sid: string } }[] };
  };
  ids = {
    Account: d.viewer.sid,
    Service: f.serviceSid,
    Entity: d.entity.sid,
    Factor: f.factorSid,
    Challenge: challenge.sid,
    Webhook: webhook.sid,
    WebhookDelivery: d.webhookDeliveries.edges[0]!.node.sid,
    AuditEvent: d.auditEvents.edges[0]!.node.sid,
  };
});
afterAll(async () => {
  await t?.close();
});

describe('Node', () => {
  it('every resource type implements Node; node(id) answers the object whose SID is the id, typed by the SID prefix', async () => {
    expect(Object.keys(ids)).toHaveLength(8);
    for (const [typename, sid] of Object.entries(ids)) {
      const r = await run(NODE, { id: sid }, a.auth);
      expect(r.errors, typename).toBeUndefined();
      expect(r.data?.node, typename).toMatchObject({ __typename: typename, id: sid });
    }
    // The id field is the SID on every type, wherever the object is reached.
    const r = await run('query ($f: ID!) { factor(sid: $f) { id sid entity { id sid } } }', { f: ids.Factor }, a.auth);
    expect(r.data?.factor).toEqual({ id: ids.Factor, sid: ids.Factor, entity: { id: ids.Entity, sid: ids.Entity } });
  });

  it('tenancy: another account’s ids are null through node and nodes, exactly like ids that do not exist', async () => {
    for (const [typename, sid] of Object.entries(ids)) {
      const r = await run(NODE, { id: sid }, b.auth);
      expect(r, typename).toEqual({ data: { node: null } });
    }
    const r = await run(NODES, { ids: Object.values(ids) }, b.auth);
    expect(r).toEqual({ data: { nodes: Object.values(ids).map(() => null) } });
  });

  it('missing, malformed and unknown-prefix ids are null, not errors', async () => {
    for (const id of ['YF' + '0'.repeat(32), 'YFnot-a-sid', 'ZZ' + '1'.repeat(32), '', 'x']) {
      expect(await run(NODE, { id }, a.auth), id).toEqual({ data: { node: null } });
    }
    // Clients may send uppercase hex (Twilio does): the same object comes back with its stored SID.
    const upper = ids.Factor!.slice(0, 2) + ids.Factor!.slice(2).toUpperCase();
    expect((await run(NODE, { id: upper }, a.auth)).data?.node).toMatchObject({ __typename: 'Factor', id: ids.Factor });
  });

  it('nodes keeps the order of the ids and answers null in place of a missing one', async () => {
    const missing = 'YC' + '0'.repeat(32);
    const r = await run(NODES, { ids: [ids.Challenge, missing, ids.Service, ids.Challenge] }, a.auth);
    expect(r).toEqual({
      data: {
        nodes: [
          { __typename: 'Challenge', id: ids.Challenge },
          null,
          { __typename: 'Service', id: ids.Service },
          { __typename: 'Challenge', id: ids.Challenge },
        ],
      },
    });
  });

  it('nodes takes at most 100 ids: 101 is INVALID_ARGUMENT', async () => {
    const ok = await run(NODES, { ids: Array.from({ length: 100 }, () => ids.Factor) }, a.auth);
    expect(ok.errors).toBeUndefined();
    expect(ok.data?.nodes).toHaveLength(100);
    const r = await run(NODES, { ids: Array.from({ length: 101 }, () => ids.Factor) }, a.auth);
    expect(r.data).toBeNull();
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_ARGUMENT', twilioCode: 60200 });
  });

  it('without credentials node is UNAUTHENTICATED, even for an id that could not exist', async () => {
    for (const id of [ids.Factor, 'x']) {
      const r = await run(NODE, { id });
      expect(r.errors?.[0]?.extensions?.code, id).toBe('UNAUTHENTICATED');
    }
  });
});
