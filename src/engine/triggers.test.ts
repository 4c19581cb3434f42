import { describe, expect, it } from 'vitest';
import { profileFromRecord } from '../domain/profile.js';
import { RulesetError } from '../errors.js';
import { buildRuleset } from '../ruleset/load.js';
import { firedTrigger } from './triggers.js';

const NOW = Date.UTC(2026, 5, 1);

const rules = (triggers: string) =>
  buildRuleset(
    [
      {
        name: 'rules.yaml',
        text: `segments:
  - id: vip
    when: customer.income > 100000
triggers:
${triggers}`,
      },
    ],
    NOW,
  );

const customer = (income: number) => profileFromRecord({ id: 'c-1', attributes: { income } });

describe('firedTrigger', () => {
  it('fires the first trigger of the type whose condition holds, reading event attributes and the customer', () => {
    const snapshot = rules(`  - id: big-cart-vip
    on: cart.abandoned
    when: event.cartValue >= 100 and inSegment('vip')
    channel: sales_force
    notify: [adviser]
  - id: any-cart
    on: cart.abandoned
    channel: mobile
    notify: [subscribers, webhook:crm]`);
    const event = (cartValue: number) => ({ type: 'cart.abandoned', attributes: { cartValue } });
    expect(firedTrigger(snapshot, event(150), customer(200_000), NOW)?.id).toBe('big-cart-vip');
    expect(firedTrigger(snapshot, event(50), customer(200_000), NOW)?.id).toBe('any-cart');
    const any = firedTrigger(snapshot, event(150), customer(1000), NOW)!;
    expect(any.id).toBe('any-cart');
    expect(any).toMatchObject({ channel: 'mobile', subscribers: true, adviser: false, webhooks: ['crm'] });
    expect(firedTrigger(snapshot, { type: 'page.viewed', attributes: {} }, customer(1), NOW)).toBeNull();
  });

  it('event.type is the type, whatever the attributes say', () => {
    const snapshot = rules(`  - id: t
    on: app.opened
    when: event.type == 'app.opened'
    channel: mobile
    notify: [subscribers]`);
    const fired = firedTrigger(snapshot, { type: 'app.opened', attributes: { type: 'x' } }, customer(1), NOW);
    expect(fired?.id).toBe('t');
  });

  it('a bad condition or a duplicate id is a compile error at its file and line', () => {
    let error: unknown;
    try {
      rules(`  - id: t
    on: app.opened
    when: event.cartValue >>= 3
    channel: mobile
    notify: [subscribers]
  - id: t
    on: app.opened
    channel: mobile
    notify: [adviser]`);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RulesetError);
    const problems = (error as RulesetError).problems;
    expect(problems.map((p) => [p.file, p.line, p.path])).toEqual([
      ['rules.yaml', 7, '/triggers/0/when'],
      ['rules.yaml', 10, '/triggers/1/id'],
    ]);
  });

  it('notify must name subscribers, adviser or webhook:<name>', () => {
    expect(() =>
      rules(`  - id: t
    on: app.opened
    channel: mobile
    notify: [everyone]`),
    ).toThrow(/notify/);
  });
});
