import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('webhook settings', () => {
  it('default to a 5 s deadline, 8 attempts, a 2 s backoff base, private addresses refused', () => {
    expect(loadConfig({})).toMatchObject({
      webhookTimeoutMs: 5000,
      webhookMaxAttempts: 8,
      webhookBackoffMs: 2000,
      webhookAllowPrivate: false,
    });
  });

  it('are read from the environment, and invalid values are reported together', () => {
    expect(
      loadConfig({
        VERITY_WEBHOOK_TIMEOUT_MS: '250',
        VERITY_WEBHOOK_MAX_ATTEMPTS: '3',
        VERITY_WEBHOOK_BACKOFF_MS: '10',
        VERITY_WEBHOOK_ALLOW_PRIVATE: 'true',
      }),
    ).toMatchObject({ webhookTimeoutMs: 250, webhookMaxAttempts: 3, webhookBackoffMs: 10, webhookAllowPrivate: true });
    let err: unknown;
    try {
      loadConfig({ VERITY_WEBHOOK_TIMEOUT_MS: 'soon', VERITY_WEBHOOK_MAX_ATTEMPTS: '0' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join('\n')).toMatch(
      /VERITY_WEBHOOK_TIMEOUT_MS[\s\S]*VERITY_WEBHOOK_MAX_ATTEMPTS|VERITY_WEBHOOK_MAX_ATTEMPTS[\s\S]*VERITY_WEBHOOK_TIMEOUT_MS/,
    );
  });
});

describe('connection settings', () => {
  it('default to 10 s for headers, 20 s for the whole request, 5 s keep-alive, 4096 connections, 100 streams per address and 1000 per account', () => {
    expect(loadConfig({}).connections).toEqual({
      headersTimeoutMs: 10_000,
      bodyTimeoutMs: 20_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 4_096,
      maxStreamsPerAddress: 100,
      maxStreamsPerAccount: 1_000,
    });
  });

  it('refuse a headers deadline longer than the whole request’s (node:http would throw at start)', () => {
    expect(() => loadConfig({ VERITY_HTTP_HEADERS_TIMEOUT_MS: '30000', VERITY_HTTP_BODY_TIMEOUT_MS: '20000' })).toThrow(
      /VERITY_HTTP_HEADERS_TIMEOUT_MS: must not exceed VERITY_HTTP_BODY_TIMEOUT_MS/,
    );
  });
});

describe('resynchronisation window', () => {
  it('defaults to ±100 time steps (RFC 6238 §6), is read from VERITY_RESYNC_WINDOW_STEPS, and refuses 0, fractions and > 1000', () => {
    expect(loadConfig({}).resyncWindowSteps).toBe(100);
    expect(loadConfig({ VERITY_RESYNC_WINDOW_STEPS: '20' }).resyncWindowSteps).toBe(20);
    for (const bad of ['0', '2.5', '1001', 'wide']) {
      expect(() => loadConfig({ VERITY_RESYNC_WINDOW_STEPS: bad })).toThrow(/VERITY_RESYNC_WINDOW_STEPS/);
    }
  });
});
