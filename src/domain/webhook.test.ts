import { describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { formParams, retryDelayMs, twilioSignature } from './webhook.ts';

describe('webhook domain', () => {
  it('twilioSignature equals twilio-node’s own expected signature', () => {
    const params = formParams({ uuid: 'u-1', type: 'factor.created', b: 'x y&z', a: null, details: { m: 1 } });
    expect(params).toEqual({ uuid: 'u-1', type: 'factor.created', b: 'x y&z', details: '{"m":1}' });
    const url = 'https://example.com/hook?x=1';
    expect(twilioSignature('token', url, params)).toBe(twilio.getExpectedTwilioSignature('token', url, params));
  });

  it('retry delays grow exponentially, jittered between half and all of base * 2^(n-1), capped at an hour', () => {
    expect(retryDelayMs(1000, 1, () => 0)).toBe(500);
    expect(retryDelayMs(1000, 1, () => 1)).toBe(1000);
    expect(retryDelayMs(1000, 4, () => 0)).toBe(4000);
    expect(retryDelayMs(1000, 4, () => 0.999)).toBeLessThanOrEqual(8000);
    expect(retryDelayMs(1000, 40, () => 1)).toBe(3_600_000);
  });
});
