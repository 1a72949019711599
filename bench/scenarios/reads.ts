// Scenario d: a page of challenges with their factor. Throughput over HTTP; the SQL statements
// each request sends are counted in-process (statements.ts), where every statement is seen.
import type { Req } from '../load.ts';

export const LIST_CHALLENGES =
  'query($svc: ID!, $identity: String!, $first: Int) { entity(serviceSid: $svc, identity: $identity) { challenges(first: $first) { edges { node { sid status dateCreated factor { sid status friendlyName } } } } } }';

export function listRequest(auth: string, serviceSid: string, identity: string, first: number): Req {
  return {
    headers: { authorization: auth },
    body: JSON.stringify({ query: LIST_CHALLENGES, variables: { svc: serviceSid, identity, first } }),
  };
}

export const expectPage = (first: number) => (code: number, body: string) =>
  code === 200 && !body.includes('"errors"') && body.split('"factor":{').length - 1 === first;
