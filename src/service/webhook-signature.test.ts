import { describe, expect, it } from 'vitest';
import { retryDelayMs, signatureHeader, verifySignature } from './webhook-signature.js';

describe('webhook signatures', () => {
  const body = '{"type":"trigger","eventId":"e-1"}';

  it('a receiver verifies what was signed with its secret, at the time signed', () => {
    const header = signatureHeader('s3cret-s3cret-s3cret', 1_800_000_000, body);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature('s3cret-s3cret-s3cret', header, body, 1_800_000_010)).toBe(true);
  });

  it('refuses another secret, another body, a tampered signature, an old timestamp, a malformed header', () => {
    const header = signatureHeader('s3cret-s3cret-s3cret', 1_800_000_000, body);
    expect(verifySignature('other-secret-other', header, body, 1_800_000_000)).toBe(false);
    expect(verifySignature('s3cret-s3cret-s3cret', header, `${body} `, 1_800_000_000)).toBe(false);
    const tampered = `${header.slice(0, -1)}${header.endsWith('0') ? '1' : '0'}`;
    expect(verifySignature('s3cret-s3cret-s3cret', tampered, body, 1_800_000_000)).toBe(false);
    expect(verifySignature('s3cret-s3cret-s3cret', header, body, 1_800_000_000 + 301)).toBe(false);
    expect(verifySignature('s3cret-s3cret-s3cret', 'v1=abc', body, 1_800_000_000)).toBe(false);
  });

  it('the same secret, time and body sign the same way (a receiver can recompute it)', () => {
    expect(signatureHeader('k'.repeat(16), 1, 'x')).toBe(signatureHeader('k'.repeat(16), 1, 'x'));
  });
});

describe('retryDelayMs', () => {
  it('doubles from the base up to the maximum, between half and all of it', () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, 1000, 60_000, 1))).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, 1000, 60_000, 0))).toEqual([500, 1000, 2000, 4000]);
    expect(retryDelayMs(20, 1000, 60_000, 1)).toBe(60_000);
    expect(retryDelayMs(20, 1000, 60_000, 0)).toBe(30_000);
  });

  it('jitter spreads the delays of one attempt', () => {
    const delays = new Set([0, 0.25, 0.5, 0.75, 0.99].map((r) => retryDelayMs(3, 1000, 60_000, r)));
    expect(delays.size).toBe(5);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(2000);
  });
});
