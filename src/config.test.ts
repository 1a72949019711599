import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('webhook settings', () => {
  it('default to a 5 s deadline, 8 attempts, a 2 s backoff base, private addresses refused', () => {
    expect(loadConfig({})).toMatchObject({ webhookTimeoutMs: 5000, webhookMaxAttempts: 8, webhookBackoffMs: 2000, webhookAllowPrivate: false });
  });

  it('are read from the environment, and invalid values are reported together', () => {
    expect(loadConfig({ VERITY_WEBHOOK_TIMEOUT_MS: '250', VERITY_WEBHOOK_MAX_ATTEMPTS: '3', VERITY_WEBHOOK_BACKOFF_MS: '10', VERITY_WEBHOOK_ALLOW_PRIVATE: 'true' }))
      .toMatchObject({ webhookTimeoutMs: 250, webhookMaxAttempts: 3, webhookBackoffMs: 10, webhookAllowPrivate: true });
    let err: unknown;
    try {
      loadConfig({ VERITY_WEBHOOK_TIMEOUT_MS: 'soon', VERITY_WEBHOOK_MAX_ATTEMPTS: '0' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join('\n')).toMatch(/VERITY_WEBHOOK_TIMEOUT_MS[\s\S]*VERITY_WEBHOOK_MAX_ATTEMPTS|VERITY_WEBHOOK_MAX_ATTEMPTS[\s\S]*VERITY_WEBHOOK_TIMEOUT_MS/);
  });
});
