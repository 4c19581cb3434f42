import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CounterFamily, HistogramFamily } from './metric-families.js';

describe('HistogramFamily', () => {
  const family = () =>
    new HistogramFamily({ name: 'x_seconds', help: 'x', labelNames: ['route'], buckets: [0.01, 0.001, 0.1] });

  it('puts a value in the first bucket whose bound is at least the value (le), and over all into +Inf', () => {
    const s = family().series('/a');
    for (const v of [0.0005, 0.001, 0.0011, 0.1, 0.5, 2]) s.observe(v);
    expect([...s.counts]).toEqual([2, 1, 1, 2]);
    expect(s.count).toBe(6);
    expect(s.sum).toBeCloseTo(2.6026, 10);
  });

  it('resolves a series once: the same object for the same label values', () => {
    const f = family();
    expect(f.series('/a')).toBe(f.series('/a'));
    expect(f.series('/a')).not.toBe(f.series('/b'));
    expect(() => f.series()).toThrow('takes labels route');
  });

  it('exposes cumulative buckets, _sum and _count through a prom-client registry', async () => {
    const registry = new Registry();
    const f = family().registerIn(registry);
    f.series('/v1/decisions').observe(0.002);
    f.series('/v1/decisions').observe(0.05);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE x_seconds histogram');
    expect(text).toContain('x_seconds_bucket{route="/v1/decisions",le="0.001"} 0');
    expect(text).toContain('x_seconds_bucket{route="/v1/decisions",le="0.01"} 1');
    expect(text).toContain('x_seconds_bucket{route="/v1/decisions",le="0.1"} 2');
    expect(text).toContain('x_seconds_bucket{route="/v1/decisions",le="+Inf"} 2');
    expect(text).toContain('x_seconds_sum{route="/v1/decisions"} 0.052');
    expect(text).toContain('x_seconds_count{route="/v1/decisions"} 2');
    registry.resetMetrics();
    expect(await registry.metrics()).toContain('x_seconds_count{route="/v1/decisions"} 0');
  });

  it('refuses buckets that are not distinct finite numbers', () => {
    const make = (buckets: number[]) =>
      new HistogramFamily({ name: 'y', help: 'y', labelNames: [], buckets });
    expect(() => make([])).toThrow('buckets');
    expect(() => make([1, 1])).toThrow('buckets');
    expect(() => make([1, Number.POSITIVE_INFINITY])).toThrow('buckets');
  });
});

describe('CounterFamily', () => {
  it('counts per series and exposes each with its labels; a family without labels has one series', async () => {
    const registry = new Registry();
    const byChannel = new CounterFamily({ name: 'd_total', help: 'd', labelNames: ['channel'] }).registerIn(
      registry,
    );
    const plain = new CounterFamily({ name: 'e_total', help: 'e', labelNames: [] })
      .registerIn(registry)
      .series();
    byChannel.series('web').inc();
    byChannel.series('web').inc(2);
    byChannel.series('call_center').inc();
    plain.inc();
    const text = await registry.metrics();
    expect(text).toContain('# TYPE d_total counter');
    expect(text).toContain('d_total{channel="web"} 3');
    expect(text).toContain('d_total{channel="call_center"} 1');
    expect(text).toContain('e_total 1');
  });
});
