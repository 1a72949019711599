import { it } from 'vitest';
import { startTestApp } from './test/support/app.ts';
it('dbg', async () => {
  const t = await startTestApp({ VERITY_GRAPHQL_MAX_TOKENS: '200' });
  const a = await t.newAccount();
  for (const accept of ['application/json', 'application/graphql-response+json']) {
  const res = await t.app.fetch('http://x/graphql', { method: 'POST', headers: { accept, 'content-type': 'application/json', authorization: a.auth }, body: JSON.stringify({ query: `{ viewer { ${'sid '.repeat(400)} } }` }) });
  console.log(res.status, await res.text());
  }
  await t.close();
});
