// Scenario c: enrolment as a client does it — createTotpFactor (the entity is created on the way),
// then verifyFactor with the code computed from the returned secret. One operation = both requests.
import { Agent } from 'node:http';
import { generateCode, parseBase32Secret } from '../../src/domain/totp.ts';
import { runOps, send, type LoadResult } from '../load.ts';

const CREATE = 'mutation($input: CreateTotpFactorInput!) { createTotpFactor(input: $input) { factor { sid } binding { secret } } }';
const VERIFY = 'mutation($input: VerifyFactorInput!) { verifyFactor(input: $input) { sid status } }';

export async function enrolment(o: {
  url: string;
  auth: string;
  serviceSid: string;
  durationMs: number;
  maxOps: number;
  concurrency: number;
  onTick?: () => void;
}): Promise<LoadResult> {
  const url = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const run = Date.now().toString(36);
  const post = async (query: string, input: object) => {
    const r = await send(agent, url, { headers: { authorization: o.auth }, body: JSON.stringify({ query, variables: { input } }) });
    if (r.status !== 200 || r.body.includes('"errors"')) throw new Error(`${r.status} ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body).data;
  };
  try {
    return await runOps({
      name: 'c. enrolment',
      durationMs: o.durationMs,
      maxOps: o.maxOps,
      concurrency: o.concurrency,
      onTick: o.onTick,
      op: async (i) => {
        const identity = `bench-enrol-${run}-${String(i).padStart(6, '0')}`;
        const created = await post(CREATE, { serviceSid: o.serviceSid, identity, friendlyName: 'Bench phone' });
        const parsed = parseBase32Secret(created.createTotpFactor.binding.secret);
        if (!parsed.ok) throw new Error('bad secret');
        const code = generateCode(parsed.seed, { alg: 'sha1', codeLength: 6, timeStep: 30, skew: 1 }, Date.now() / 1000);
        const verified = await post(VERIFY, { factorSid: created.createTotpFactor.factor.sid, authPayload: code });
        return verified.verifyFactor.status === 'VERIFIED';
      },
    });
  } finally {
    agent.destroy();
  }
}
