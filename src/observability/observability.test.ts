import { describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import { createLogger } from '../logger.ts';
import { graphqlOperation } from './http.ts';
import { canReadMetrics } from '../auth/metrics-token.ts';
import { annotateLogContext, requestIdFrom, runWithLogContext } from './log-context.ts';

describe('request ids', () => {
  it('keeps a short, inert client id and replaces anything else', () => {
    expect(requestIdFrom('abc-123_X.y')).toBe('abc-123_X.y');
    expect(requestIdFrom('a'.repeat(64))).toBe('a'.repeat(64));
    for (const bad of ['a'.repeat(65), '', 'with space', 'new\nline', 'quote"', 'ünïcode', 'a;b', undefined, null]) {
      expect(requestIdFrom(bad)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });
});

describe('logger', () => {
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    return { lines, logger: createLogger('trace', { write: (s: string) => void lines.push(JSON.parse(s)) }) };
  };

  it('stamps the log context on every line, children included, and nothing outside one', () => {
    const { lines, logger } = capture();
    logger.info('outside');
    runWithLogContext({ reqId: 'r1' }, () => {
      logger.child({ component: 'yoga' }).debug('before auth');
      annotateLogContext({ accountSid: 'AC' + '0'.repeat(32), operation: 'viewer' });
      logger.info({ status: 200 }, 'request');
    });
    expect(lines.map((l) => [l.msg, l.reqId, l.accountSid, l.operation, l.component])).toEqual([
      ['outside', undefined, undefined, undefined, undefined],
      ['before auth', 'r1', undefined, undefined, 'yoga'],
      ['request', 'r1', 'AC' + '0'.repeat(32), 'viewer', undefined],
    ]);
  });

  it('censors secret-bearing keys from the top level to three levels down, but keeps err.code', () => {
    const { lines, logger } = capture();
    const err = Object.assign(new Error('boom'), { code: 'P2002' });
    logger.info({
      authorization: 'Basic c2VjcmV0',
      authToken: 't0k3n',
      code: '12345678',
      variables: { authPayload: '87654321' },
      input: { secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', authPayload: '11223344', code: '55667788' },
      headers: { authorization: 'Bearer x', cookie: 'c=1' },
      req: { headers: { authorization: 'Bearer y' } },
      webhook: { signingSecret: 'whsec_abc' },
      binding: { secret: 's', uri: 'otpauth://…' },
      err,
      deep: { request: { headers: { Authorization: 'Basic ZGVlcA==', 'x-twilio-signature': 'sig=' } } },
      list: [{ token: 'in-an-array' }],
      Authorization: 'Bearer top',
      ['x-twilio-signature']: 'topsig',
    });
    const line = JSON.stringify(lines[0]);
    for (const secret of [
      'c2VjcmV0',
      't0k3n',
      '12345678',
      '87654321',
      'JBSWY3DP',
      '11223344',
      '55667788',
      'Bearer',
      'c=1',
      'whsec_abc',
      'otpauth',
      'ZGVlcA',
      'sig=',
      'in-an-array',
      'topsig',
    ]) {
      expect(line).not.toContain(secret);
    }
    expect((lines[0]!.err as { code: string }).code).toBe('P2002');
    expect((lines[0]!.deep as { request: unknown }).request).toEqual({
      headers: { Authorization: '[redacted]', 'x-twilio-signature': '[redacted]' },
    });
    // The caller's object is not modified by censoring.
    const mine = { input: { authPayload: '123456', friendlyName: 'kept' } };
    logger.info(mine, 'x');
    expect(mine.input.authPayload).toBe('123456');
    expect(lines[1]!.input).toEqual({ authPayload: '[redacted]', friendlyName: 'kept' });
  });

  it('keeps a code that cannot be a TOTP code: a WebSocket close code, an error name', () => {
    const { lines, logger } = capture();
    logger.info({ code: 1000 }, 'ws closed');
    logger.info({ code: 'ECONNRESET', nested: { code: 4401, other: { code: '123456' } } }, 'x');
    expect(lines[0]!.code).toBe(1000);
    expect(lines[1]!.code).toBe('ECONNRESET');
    expect(lines[1]!.nested).toEqual({ code: 4401, other: { code: '[redacted]' } });
  });
});

describe('operation labels', () => {
  it('GraphQL: the root field from the schema, never an alias or the client operationName', () => {
    expect(graphqlOperation(parse('mutation Login { ok: createChallenge(input: {}) { sid } }'))).toBe('createChallenge');
    expect(graphqlOperation(parse('query A { viewer { sid } } query B { services { totalCount } }'), 'B')).toBe('services');
    expect(graphqlOperation(parse('{ viewer { sid } services { totalCount } }'))).toBe('multiple');
    expect(graphqlOperation(parse('{ __typename viewer { sid } }'))).toBe('viewer');
    expect(graphqlOperation(parse('{ ...F } fragment F on Query { viewer { sid } }'))).toBe('viewer');
    expect(graphqlOperation(parse('query A { viewer { sid } } query B { viewer { sid } }'))).toBe('graphql'); // ambiguous without a name
  });
});

describe('/metrics credentials', () => {
  const config = { adminToken: 'o'.repeat(32), metricsToken: 'm'.repeat(32) };
  it('accepts either bearer token, nothing else', () => {
    expect(canReadMetrics(config, `Bearer ${'o'.repeat(32)}`)).toBe(true);
    expect(canReadMetrics(config, `bearer ${'m'.repeat(32)}`)).toBe(true);
    for (const h of [
      null,
      '',
      'Bearer',
      `Bearer ${'m'.repeat(31)}`,
      `Basic ${'m'.repeat(32)}`,
      'm'.repeat(32),
      `Bearer ${'m'.repeat(32)} extra`,
    ]) {
      expect(canReadMetrics(config, h)).toBe(false);
    }
    expect(canReadMetrics({ adminToken: undefined, metricsToken: undefined }, 'Bearer undefined')).toBe(false);
  });
});
