// Baseline servers, run as child processes by bench/run.ts: `http` answers fixed JSON with bare
// node:http; `yoga` is graphql-yoga with a trivial query and a trivial mutation. Same Node, same
// machine, same load generator as Verity: they are the ceilings Verity's figures are divided by.
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';

const kind = process.argv[2];
const port = Number(process.env.PORT ?? 0);

if (kind === 'http') {
  const body = JSON.stringify({ data: { ok: true } });
  createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body));
  }).listen(port, '127.0.0.1', () => console.log('listening'));
} else if (kind === 'yoga') {
  let n = 0;
  const yoga = createYoga({
    schema: createSchema({
      // viewer { sid }: the same query as Verity's cheapest authenticated read, with nothing behind it.
      typeDefs: 'type Query { ok: Boolean! viewer: Viewer! } type Viewer { sid: ID! } type Mutation { bump(by: Int!): Int! }',
      resolvers: {
        Query: { ok: () => true, viewer: () => ({ sid: 'AC00000000000000000000000000000000' }) },
        Mutation: { bump: (_: unknown, a: { by: number }) => (n += a.by) },
      },
    }),
    logging: false,
    landingPage: false,
    graphiql: false,
  });
  createServer((req, res) => void yoga(req, res)).listen(port, '127.0.0.1', () => console.log('listening'));
} else {
  console.error('usage: baseline-server.ts http|yoga');
  process.exit(2);
}
