import { describe, expect, it } from 'vitest';
import type { ApiKeyConfig } from '../config.js';
import { ApiKeyAuth } from './auth.js';

const key = (k: string): ApiKeyConfig => ({ key: k, name: k.slice(0, 3), scopes: new Set(['decide']) });

describe('ApiKeyAuth', () => {
  const auth = new ApiKeyAuth([key('agent-key'), key('ops-key-ünïcode')]);

  it('finds the key of a Bearer header', () => {
    expect(auth.authenticate('Bearer agent-key')?.key).toBe('agent-key');
    expect(auth.authenticate('Bearer ops-key-ünïcode')?.key).toBe('ops-key-ünïcode');
  });

  it('rejects near misses: prefixes, extensions, other schemes, case, padding with zeros', () => {
    for (const header of [
      'Bearer agent-ke',
      'Bearer agent-key2',
      'Bearer agent-key\u0000',
      'Bearer AGENT-KEY',
      'Basic agent-key',
      'agent-key',
      'Bearer ',
      `Bearer ${'x'.repeat(1000)}`,
      undefined,
    ]) {
      expect(auth.authenticate(header), String(header)).toBeNull();
    }
  });

  it('refuses to configure a key longer than a slot', () => {
    expect(() => new ApiKeyAuth([key('k'.repeat(300))])).toThrow(/at most/);
  });
});
