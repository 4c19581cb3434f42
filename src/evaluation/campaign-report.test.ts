import { describe, expect, it } from 'vitest';
import { dayOf } from '../feedback/feedback-effects.js';
import type { DayCounters } from '../feedback/stats-reader.js';
import { buildRuleset } from '../ruleset/load.js';
import {
  type CampaignReport,
  campaignReport,
  campaignReportCsv,
  campaignsReport,
  type DayRange,
  type GroupBy,
  medianDays,
} from './campaign-report.js';
import { proportion, uplift } from './uplift.js';

const RULES = `
campaigns:
  - id: cards
    name: Card cross-sell
    objective: cross_sell
    kpi: { metric: accept_rate, target: 0.05 }
    schedule: { start: "2026-01-01", end: "2026-12-31" }
    controlGroup: 0.1
  - id: loans
    name: Loans
    objective: up_sell
    kpi: { metric: revenue, target: 0 }
  - id: quiet
    name: Quiet
    objective: retention
    kpi: { metric: conversion_rate, target: 0.02 }
offers:
  - id: gold
    name: Gold card
    campaign: cards
    product: card-gold
    channels: [call_center, web]
    value: 100
    creatives:
      call_center: { talkTrack: Offer the gold card. }
      web: { headline: Go gold, image: /gold.png, link: /gold }
  - id: travel
    name: Travel insurance
    campaign: cards
    product: travel-ins
    channels: [web]
    value: 40
    creatives:
      web: { headline: Travel safe, image: /travel.png, link: /travel }
  - id: loan
    name: Loan
    campaign: loans
    product: loan
    channels: [web]
    value: 40
    creatives:
      web: { headline: Borrow, image: /loan.png, link: /loan }
  - id: quiet-offer
    name: Quiet offer
    campaign: quiet
    product: quiet
    channels: [web]
    value: 1
    creatives:
      web: { headline: Hush, image: /q.png, link: /q }
contactPolicies:
  - channel: call_center
    cost: 0.5
  - channel: web
    cost: 0.01
`;

const snapshot = buildRuleset([{ name: 'rules.yaml', text: RULES }], Date.parse('2026-11-20T00:00:00Z'));
const D = dayOf(Date.parse('2026-11-20T00:00:00Z'));
const RANGE: DayRange = { from: D, to: D + 2 };

const counters = new Map<number, DayCounters>([
  [
    D,
    new Map([
      ['gold|web|vip|impressions', 100],
      ['gold|web|vip|expected', 3.2],
      ['gold|web|vip|clicks', 10],
      ['gold|web|vip|accepts', 4],
      ['gold|web|vip|conversions', 2],
      ['gold|web|vip|revenue', 150.5],
      ['gold|web|vip|controls', 20],
      ['gold|web|vip|controlConversions', 1],
      ['gold|web|vip|controlRevenue', 40],
      // Customer episodes: segment always '-', on the field of the offer and channel that opened them.
      ['gold|web|-|customers', 80],
      ['gold|web|-|customerConversions', 6],
      ['gold|web|-|customerRevenue', 300.25],
      ['gold|web|-|controlCustomers', 9],
      ['gold|web|-|controlCustomerConversions', 1],
      ['gold|web|-|controlCustomerRevenue', 20],
      ['gold|call_center|-|impressions', 10],
      ['gold|call_center|-|accepts', 3],
      ['gold|call_center|-|rejects', 2],
      ['loan|web|-|impressions', 50],
      ['loan|web|-|revenue', 12],
      // An offer no longer in the ruleset, and a field that is not a counter: both left out.
      ['retired-offer|web|-|impressions', 7],
      ['nonsense', 1],
    ]),
  ],
  [
    D + 2,
    new Map([
      ['travel|web|vip|impressions', 40],
      ['travel|web|vip|views', 30],
      ['travel|web|vip|dismissals', 5],
      ['travel|web|vip|conversions', 1],
      ['travel|web|vip|controls', 5],
    ]),
  ],
  // Outside the range.
  [D + 5, new Map([['gold|web|vip|impressions', 1000]])],
]);

const cards = snapshot.campaignById.get('cards')!;
const report = (groupBy: GroupBy | null, range = RANGE, days = counters): CampaignReport =>
  campaignReport({ snapshot, campaign: cards, counters: days, range, groupBy });

describe('campaignReport', () => {
  it('adds up the totals of the campaign’s offers over the range, with exact derived figures', () => {
    const r = report(null);
    expect(r.campaign).toEqual({
      id: 'cards',
      name: 'Card cross-sell',
      objective: 'cross_sell',
      controlShare: 0.1,
      start: '2026-01-01T00:00:00.000Z',
      end: '2026-12-31T23:59:59.999Z',
    });
    expect(r.from).toBe('2026-11-20');
    expect(r.to).toBe('2026-11-22');
    expect(r.groupBy).toBeNull();
    expect(r.groups).toEqual([]);
    const t = r.totals;
    expect(t).toMatchObject({
      impressions: 150,
      views: 30,
      clicks: 10,
      accepts: 7,
      rejects: 2,
      dismissals: 5,
      conversions: 3,
      revenue: 150.5,
      controls: 25,
      controlConversions: 1,
      controlRevenue: 40,
      customers: 80,
      customerConversions: 6,
      customerRevenue: 300.25,
      controlCustomers: 9,
      controlCustomerConversions: 1,
      controlCustomerRevenue: 20,
    });
    // 100 web × 0.01 + 10 call-center × 0.5 + 40 web × 0.01
    expect(t.cost).toBeCloseTo(6.4, 12);
    expect(t.roi).toBeCloseTo((150.5 - 6.4) / 6.4, 12);
    expect(t.rates).toEqual({
      clickRate: 10 / 150,
      acceptRate: 7 / 150,
      rejectRate: 2 / 150,
      conversionRate: 3 / 150,
    });
    expect(t.acceptRateCi95).toEqual(proportion(7, 150).ci95);
    expect(t.funnel).toEqual([
      { stage: 'impression', label: 'interested', count: 150, fromPrevious: null, fromTop: 1 },
      { stage: 'accept', label: 'lead', count: 7, fromPrevious: 7 / 150, fromTop: 7 / 150 },
      { stage: 'conversion', label: 'customer', count: 3, fromPrevious: 3 / 7, fromTop: 3 / 150 },
    ]);
    const u = uplift({ successes: 3, trials: 150 }, { successes: 1, trials: 25 });
    expect(t.uplift).toEqual({
      metric: 'conversion_rate',
      treatedRate: 3 / 150,
      controlRate: 1 / 25,
      uplift: u.uplift,
      ci95: u.ci95,
      relative: u.relative,
      incrementalConversions: u.uplift! * 150,
      revenuePerDecision: { treated: 150.5 / 150, control: 40 / 25 },
    });
    expect(r.kpi).toEqual({ metric: 'accept_rate', target: 0.05, actual: 7 / 150, progress: 7 / 150 / 0.05 });
  });

  it('groups by channel, segment (none without one) and offer, sorted by key', () => {
    const byChannel = report('channel').groups;
    expect(byChannel.map((g) => [g.key, g.impressions, g.accepts])).toEqual([
      ['call_center', 10, 3],
      ['web', 140, 4],
    ]);
    expect(byChannel[0]!.cost).toBe(5);
    expect(byChannel[0]!.rates.rejectRate).toBe(0.2);
    expect(byChannel[0]!.uplift.controlRate).toBeNull();
    expect(report('segment').groups.map((g) => [g.key, g.impressions])).toEqual([
      ['none', 10],
      ['vip', 140],
    ]);
    const byOffer = report('offer').groups;
    expect(byOffer.map((g) => [g.key, g.impressions, g.conversions, g.controls])).toEqual([
      ['gold', 110, 2, 20],
      ['travel', 40, 1, 5],
    ]);
    expect(byOffer[1]!.cost).toBe(0.4);
    expect(byOffer[1]!.uplift.uplift).toBe(
      uplift({ successes: 1, trials: 40 }, { successes: 0, trials: 5 }).uplift,
    );
  });

  it('has a row for every day of the range when grouped by day, quiet days as zeros', () => {
    const days = report('day').groups;
    expect(days.map((g) => [g.key, g.impressions])).toEqual([
      ['2026-11-20', 110],
      ['2026-11-21', 0],
      ['2026-11-22', 40],
    ]);
    const quiet = days[1]!;
    expect(quiet).toMatchObject({ revenue: 0, cost: 0, roi: null, acceptRateCi95: null });
    expect(quiet.rates).toEqual({
      clickRate: null,
      acceptRate: null,
      rejectRate: null,
      conversionRate: null,
    });
    expect(quiet.funnel.map((s) => [s.count, s.fromPrevious, s.fromTop])).toEqual([
      [0, null, null],
      [0, null, null],
      [0, null, null],
    ]);
    expect(quiet.uplift).toEqual({
      metric: 'conversion_rate',
      treatedRate: null,
      controlRate: null,
      uplift: null,
      ci95: null,
      relative: null,
      incrementalConversions: null,
      revenuePerDecision: { treated: null, control: null },
    });
  });

  it('reads only the days of the range', () => {
    const r = report('day', { from: D + 5, to: D + 5 });
    expect(r.totals.impressions).toBe(1000);
    expect(r.groups.map((g) => g.key)).toEqual(['2026-11-25']);
    expect(report(null, { from: D + 1, to: D + 1 }).totals.impressions).toBe(0);
  });

  it('clamps successes to trials for the statistics, but reports the counts as they are', () => {
    // Conversions counted today of impressions made before the range: more successes than trials.
    const odd = new Map([
      [
        D,
        new Map([
          ['gold|web|-|impressions', 2],
          ['gold|web|-|accepts', 3],
          ['gold|web|-|conversions', 5],
          ['gold|web|-|controls', 3],
          ['gold|web|-|controlConversions', 4],
        ]),
      ],
    ]);
    const t = report(null, { from: D, to: D }, odd).totals;
    expect(t.conversions).toBe(5);
    expect(t.rates.conversionRate).toBe(2.5);
    expect(t.acceptRateCi95).toEqual(proportion(2, 2).ci95);
    expect(t.uplift).toMatchObject({ treatedRate: 1, controlRate: 1, uplift: 0, relative: 0 });
    expect(t.uplift.ci95).toEqual(uplift({ successes: 2, trials: 2 }, { successes: 3, trials: 3 }).ci95);
    for (const value of Object.values(t.rates)) expect(Number.isFinite(value)).toBe(true);
  });

  it('KPI progress: null without an actual, or with a target of 0; open schedules are null', () => {
    const { campaigns } = campaignsReport({ snapshot, counters, range: RANGE });
    expect(campaigns.map((c) => [c.id, c.totals.impressions, c.totals.revenue])).toEqual([
      ['cards', 150, 150.5],
      ['loans', 50, 12],
      ['quiet', 0, 0],
    ]);
    expect(campaigns[0]!.kpi!.progress).toBe(7 / 150 / 0.05);
    expect(campaigns[1]!.kpi).toEqual({ metric: 'revenue', target: 0, actual: 12, progress: null });
    expect(campaigns[2]!.kpi).toEqual({
      metric: 'conversion_rate',
      target: 0.02,
      actual: null,
      progress: null,
    });
    const loans = campaignReport({
      snapshot,
      campaign: snapshot.campaignById.get('loans')!,
      counters,
      range: RANGE,
      groupBy: null,
    });
    expect(loans.campaign).toMatchObject({ start: null, end: null, controlShare: 0 });
  });

  it('gives the list endpoint the same totals as the campaign report', () => {
    const { campaigns, from, to } = campaignsReport({ snapshot, counters, range: RANGE });
    expect([from, to]).toEqual(['2026-11-20', '2026-11-22']);
    expect(campaigns[0]!.totals).toEqual(report(null).totals);
    expect(campaigns[0]).toMatchObject({ name: 'Card cross-sell', objective: 'cross_sell' });
  });
});

describe('customer uplift', () => {
  /** One day of per-customer counters of the gold offer on the web (segment '-', as counted). */
  function customerDay(counts: Record<string, number>, offer = 'gold', channel = 'web'): [string, number][] {
    return Object.entries(counts).map(([metric, amount]) => [`${offer}|${channel}|-|${metric}`, amount]);
  }
  const oneDay = (...fields: [string, number][][]) => new Map([[D, new Map(fields.flat())]]);
  const totalsOf = (days: Map<number, DayCounters>) => report(null, { from: D, to: D }, days).totals;

  it('1000 customers, 300 converted, against 1000 control, 290: the interval covers 0', () => {
    const t = totalsOf(
      oneDay(
        customerDay({
          customers: 1000,
          customerConversions: 300,
          controlCustomers: 1000,
          controlCustomerConversions: 290,
        }),
      ),
    );
    const cu = t.customerUplift;
    const expected = uplift({ successes: 300, trials: 1000 }, { successes: 290, trials: 1000 });
    expect(cu.metric).toBe('customer_conversion_rate');
    expect(cu.treated).toEqual({
      customers: 1000,
      conversions: 300,
      rate: 0.3,
      ci95: proportion(300, 1000).ci95,
      revenue: 0,
      revenuePerCustomer: 0,
    });
    expect(cu.control).toEqual({
      customers: 1000,
      conversions: 290,
      rate: 0.29,
      ci95: proportion(290, 1000).ci95,
      revenue: 0,
      revenuePerCustomer: 0,
    });
    expect(cu.uplift).toBeCloseTo(0.01, 12);
    expect(cu.ci95).toEqual(expected.ci95);
    expect(cu.ci95![0]).toBeLessThan(0);
    expect(cu.ci95![1]).toBeGreaterThan(0);
    expect(cu.relative).toBeCloseTo(0.01 / 0.29, 12);
    expect(cu.incrementalCustomers).toBeCloseTo(10, 9);
    // Nothing per decision was counted: that uplift stays empty, the per-customer one stands alone.
    expect(t.uplift.uplift).toBeNull();
  });

  it('1000 customers, 600 converted, against 1000 control, 300: the interval covers 0.3 and excludes 0', () => {
    const cu = totalsOf(
      oneDay(
        customerDay({
          customers: 1000,
          customerConversions: 600,
          controlCustomers: 1000,
          controlCustomerConversions: 300,
        }),
      ),
    ).customerUplift;
    expect(cu.uplift).toBeCloseTo(0.3, 12);
    const [low, high] = cu.ci95!;
    expect(low).toBeGreaterThan(0);
    expect(low).toBeLessThan(0.3);
    expect(high).toBeGreaterThan(0.3);
    expect(cu.relative).toBeCloseTo(1, 12);
    expect(cu.incrementalCustomers).toBeCloseTo(300, 9);
  });

  it('revenue per customer: the revenue of the converting episodes over every customer of the group', () => {
    const cu = totalsOf(
      oneDay(
        customerDay({
          customers: 400,
          customerConversions: 40,
          customerRevenue: 4800.5,
          controlCustomers: 100,
          controlCustomerConversions: 5,
          controlCustomerRevenue: 300,
        }),
      ),
    ).customerUplift;
    expect(cu.treated.revenue).toBe(4800.5);
    expect(cu.treated.revenuePerCustomer).toBe(4800.5 / 400);
    expect(cu.control.revenuePerCustomer).toBe(3);
    expect(cu.revenuePerCustomerDiff).toBeCloseTo(4800.5 / 400 - 3, 12);
    expect(cu.incrementalRevenue).toBe(3600.5);
  });

  it('a control group without customers gives nulls, never NaN', () => {
    const t = totalsOf(oneDay(customerDay({ customers: 50, customerConversions: 5, customerRevenue: 100 })));
    const cu = t.customerUplift;
    expect(cu.treated).toMatchObject({ customers: 50, conversions: 5, rate: 0.1, revenuePerCustomer: 2 });
    expect(cu.control).toEqual({
      customers: 0,
      conversions: 0,
      rate: null,
      ci95: null,
      revenue: 0,
      revenuePerCustomer: null,
    });
    expect(cu).toMatchObject({
      uplift: null,
      ci95: null,
      relative: null,
      revenuePerCustomerDiff: null,
      incrementalCustomers: null,
      incrementalRevenue: null,
    });
    // A control rate of 0 has an uplift but no finite relative uplift.
    const zero = totalsOf(
      oneDay(customerDay({ customers: 50, customerConversions: 5, controlCustomers: 10 })),
    ).customerUplift;
    expect(zero).toMatchObject({ uplift: 0.1, relative: null });
    const numbers = JSON.stringify(cu) + JSON.stringify(zero);
    expect(numbers).not.toMatch(/NaN|Infinity/);
  });

  it('without any customer episode, both groups are empty and every derived figure null', () => {
    const cu = report('day').groups[1]!.customerUplift;
    expect(cu).toEqual({
      metric: 'customer_conversion_rate',
      treated: { customers: 0, conversions: 0, rate: null, ci95: null, revenue: 0, revenuePerCustomer: null },
      control: { customers: 0, conversions: 0, rate: null, ci95: null, revenue: 0, revenuePerCustomer: null },
      uplift: null,
      ci95: null,
      relative: null,
      revenuePerCustomerDiff: null,
      incrementalCustomers: null,
      incrementalRevenue: null,
    });
  });

  it('adds up the episodes of every offer and channel of the campaign, and groups them by the opening one', () => {
    const days = oneDay(
      customerDay({ customers: 30, customerConversions: 3, controlCustomers: 10 }),
      customerDay(
        { customers: 20, customerConversions: 4, controlCustomerConversions: 0 },
        'gold',
        'call_center',
      ),
      customerDay({ customers: 10, customerConversions: 1, controlCustomers: 5 }, 'travel'),
      // Another campaign's episodes are not this one's.
      customerDay({ customers: 999, customerConversions: 999 }, 'loan'),
    );
    const t = totalsOf(days);
    expect([t.customers, t.customerConversions, t.controlCustomers]).toEqual([60, 8, 15]);
    expect(t.customerUplift.uplift).toBe(
      uplift({ successes: 8, trials: 60 }, { successes: 0, trials: 15 }).uplift,
    );
    const range = { from: D, to: D };
    const by = (groupBy: GroupBy) =>
      report(groupBy, range, days).groups.map((g) => [g.key, g.customers, g.controlCustomers]);
    expect(by('offer')).toEqual([
      ['gold', 50, 10],
      ['travel', 10, 5],
    ]);
    expect(by('channel')).toEqual([
      ['call_center', 20, 0],
      ['web', 40, 15],
    ]);
    // Episodes have no segment: they all fall under `none`.
    expect(by('segment')).toEqual([['none', 60, 15]]);
    const list = campaignsReport({ snapshot, counters: days, range });
    expect(
      list.campaigns.map((c) => [c.id, c.totals.customers, c.totals.customerUplift.treated.conversions]),
    ).toEqual([
      ['cards', 60, 8],
      ['loans', 999, 999],
      ['quiet', 0, 0],
    ]);
    expect(list.campaigns[0]!.totals.customerUplift).toEqual(t.customerUplift);
  });

  it('clamps conversions to customers for the intervals, but reports the counts as they are', () => {
    const cu = totalsOf(
      oneDay(
        customerDay({
          customers: 4,
          customerConversions: 6,
          controlCustomers: 2,
          controlCustomerConversions: 3,
        }),
      ),
    ).customerUplift;
    expect(cu.treated).toMatchObject({ conversions: 6, rate: 1.5, ci95: proportion(4, 4).ci95 });
    expect(cu.control).toMatchObject({ conversions: 3, rate: 1.5, ci95: proportion(2, 2).ci95 });
    expect(cu.uplift).toBe(0);
    expect(cu.ci95).toEqual(uplift({ successes: 4, trials: 4 }, { successes: 2, trials: 2 }).ci95);
  });
});

describe('campaignReportCsv', () => {
  const HEADER =
    'key,impressions,views,clicks,accepts,rejects,dismissals,conversions,revenue,cost,roi,click_rate,accept_rate,conversion_rate,controls,control_conversions,uplift,uplift_low,uplift_high,' +
    'customers,converted_customers,customer_rate,control_customers,control_converted_customers,control_customer_rate,customer_uplift,customer_uplift_low,customer_uplift_high,revenue_per_customer,control_revenue_per_customer,' +
    'leads_first_touch,leads_last_touch,leads_position_based,customers_first_touch,customers_last_touch,customers_position_based,median_days_to_lead,median_days_to_customer,median_days_lead_to_customer';

  it('writes a header, a row per group and a total row last, empty cells for nulls', () => {
    const r = report('channel');
    const lines = campaignReportCsv(r).split('\r\n');
    expect(lines[0]).toBe(HEADER);
    expect(lines).toHaveLength(5);
    expect(lines[4]).toBe('');
    // No customer episodes on the call center: counts of 0, every per-customer figure empty.
    expect(lines[1]).toBe('call_center,10,0,0,3,2,0,0,0,5,-1,0,0.3,0,0,0,,,,0,0,,0,0,,,,,,,0,0,0,0,0,0,,,');
    const t = r.totals;
    expect(lines[3]).toBe(
      [
        'total',
        150,
        30,
        10,
        7,
        2,
        5,
        3,
        150.5,
        t.cost,
        t.roi,
        10 / 150,
        7 / 150,
        3 / 150,
        25,
        1,
        t.uplift.uplift,
        t.uplift.ci95![0],
        t.uplift.ci95![1],
        80,
        6,
        6 / 80,
        9,
        1,
        1 / 9,
        t.customerUplift.uplift,
        t.customerUplift.ci95![0],
        t.customerUplift.ci95![1],
        300.25 / 80,
        20 / 9,
        // No journeys in these counters: credits of 0, no medians.
        0,
        0,
        0,
        0,
        0,
        0,
        '',
        '',
        '',
      ].join(','),
    );
  });

  it('has a single total row without grouping', () => {
    const lines = campaignReportCsv(report(null)).trimEnd().split('\r\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]!.startsWith('total,150,')).toBe(true);
  });

  it('quotes keys as RFC 4180 says', () => {
    const r = report('offer');
    const odd: CampaignReport = {
      ...r,
      groups: [
        { ...r.groups[0]!, key: 'a,b' },
        { ...r.groups[0]!, key: 'say "hi"' },
        { ...r.groups[0]!, key: 'two\nlines' },
      ],
    };
    const csv = campaignReportCsv(odd);
    expect(csv).toContain('\r\n"a,b",110,');
    expect(csv).toContain('\r\n"say ""hi""",110,');
    expect(csv).toContain('\r\n"two\nlines",110,');
  });
});

describe('lifecycle mix', () => {
  it('counts the treated customers reached by their stage then, across offers and channels', () => {
    const days = new Map([
      [
        D,
        new Map<string, number>([
          ['gold|web|-|customersAt:loyal', 3],
          ['gold|call_center|-|customersAt:loyal', 2],
          ['gold|web|-|customersAt:prospect', 7],
          ['gold|web|-|customers', 12],
        ]),
      ],
    ]);
    const t = report(null, { from: D, to: D }, days).totals;
    expect(t.lifecycleMix).toEqual({ loyal: 5, prospect: 7 });
    expect(t.customers).toBe(12);
  });
});

describe('journeys', () => {
  /** Journey counters of one day, as transitionCounters writes them. */
  const journeyDays = new Map([
    [
      D,
      new Map<string, number>([
        ['gold|web|-|customers', 100],
        ['gold|web|-|leadsFirstTouch', 4],
        ['gold|web|-|leadsLastTouch', 2],
        ['gold|web|-|leadsPositionBased', 3.1],
        ['gold|call_center|-|leadsFirstTouch', 2],
        ['gold|call_center|-|leadsLastTouch', 3],
        ['gold|call_center|-|leadsPositionBased', 2.2],
        ['travel|web|-|leadsLastTouch', 1],
        ['travel|web|-|leadsPositionBased', 0.7],
        ['gold|web|-|customersFirstTouch', 1],
        ['gold|web|-|customersLastTouch', 1],
        ['gold|web|-|customersPositionBased', 0.9],
        ['travel|web|-|customersPositionBased', 0.1],
        // Six leads first touched by the campaign: 2 in [3, 5), 3 in [7, 10), 1 in [10, 14).
        ['gold|web|-|leadDays:3', 2],
        ['gold|web|-|leadDays:7', 1],
        ['gold|call_center|-|leadDays:7', 2],
        ['gold|call_center|-|leadDays:10', 1],
        ['gold|web|-|customerDays:14', 1],
        // Another campaign's journeys are its own.
        ['loan|web|-|leadsFirstTouch', 50],
        ['loan|web|-|leadsPositionBased', 50],
        ['loan|web|-|leadDays:180', 50],
      ]),
    ],
  ]);
  const day = { from: D, to: D };

  it('adds up the credits of every offer and channel of the campaign, by model', () => {
    const j = report(null, day, journeyDays).totals.journeys;
    expect(j.leads).toEqual({ firstTouch: 6, lastTouch: 6, positionBased: 6 });
    expect(j.customers).toEqual({ firstTouch: 1, lastTouch: 1, positionBased: 1 });
    expect(j.daysToLead).toEqual({ '3': 2, '7': 3, '10': 1 });
    expect(j.daysToCustomer).toEqual({ '14': 1 });
    expect(j.daysLeadToCustomer).toEqual({});
  });

  it('medians: the middle person’s bucket, interpolated; null without a person', () => {
    const j = report(null, day, journeyDays).totals.journeys;
    // Six persons, the middle at 3: two below bucket 7, so 7 + (3 − 2) / 3 × (10 − 7) = 8.
    expect(j.medianDaysToLead).toBe(8);
    // One person in [14, 21): the middle of the bucket.
    expect(j.medianDaysToCustomer).toBe(17.5);
    expect(j.medianDaysLeadToCustomer).toBeNull();
  });

  it('the per-person funnel: prospects (customers reached) → leads → customers, position-based', () => {
    const j = report(null, day, journeyDays).totals.journeys;
    expect(j.funnel).toEqual([
      { stage: 'prospect', count: 100, fromPrevious: null, medianDaysFromPrevious: null },
      { stage: 'lead', count: 6, fromPrevious: 0.06, medianDaysFromPrevious: 8 },
      { stage: 'customer', count: 1, fromPrevious: 1 / 6, medianDaysFromPrevious: null },
    ]);
  });

  it('groups by the channel and offer of each credited touch, the days by the first touch', () => {
    const byChannel = report('channel', day, journeyDays).groups;
    const web = byChannel.find((g) => g.key === 'web')!.journeys;
    const cc = byChannel.find((g) => g.key === 'call_center')!.journeys;
    expect(web.leads).toEqual({ firstTouch: 4, lastTouch: 3, positionBased: 3.8 });
    expect(cc.leads).toEqual({ firstTouch: 2, lastTouch: 3, positionBased: 2.2 });
    expect(web.daysToLead).toEqual({ '3': 2, '7': 1 });
    // Three persons, the middle at 1.5: in [3, 5), 3 + 1.5 / 2 × 2.
    expect(web.medianDaysToLead).toBe(4.5);
    // Three persons: 7 + 1.5 / 2 × 3.
    expect(cc.medianDaysToLead).toBe(9.25);
    const byOffer = report('offer', day, journeyDays).groups;
    expect(byOffer.find((g) => g.key === 'travel')!.journeys.customers.positionBased).toBe(0.1);
  });

  it('without journeys: credits of 0, medians null, funnel rates null', () => {
    const j = report(null, day, new Map()).totals.journeys;
    expect(j).toEqual({
      leads: { firstTouch: 0, lastTouch: 0, positionBased: 0 },
      customers: { firstTouch: 0, lastTouch: 0, positionBased: 0 },
      medianDaysToLead: null,
      medianDaysToCustomer: null,
      medianDaysLeadToCustomer: null,
      daysToLead: {},
      daysToCustomer: {},
      daysLeadToCustomer: {},
      funnel: [
        { stage: 'prospect', count: 0, fromPrevious: null, medianDaysFromPrevious: null },
        { stage: 'lead', count: 0, fromPrevious: null, medianDaysFromPrevious: null },
        { stage: 'customer', count: 0, fromPrevious: null, medianDaysFromPrevious: null },
      ],
    });
  });

  it('the list endpoint has the same journeys, and a sum of fractions shows no binary rounding', () => {
    const shares = new Map([[D, new Map<string, number>([['gold|web|-|leadsPositionBased', 0.1 + 0.2]])]]);
    expect(report(null, day, shares).totals.journeys.leads.positionBased).toBe(0.3);
    const list = campaignsReport({ snapshot, counters: journeyDays, range: day });
    expect(list.campaigns.find((c) => c.id === 'cards')!.totals.journeys).toEqual(
      report(null, day, journeyDays).totals.journeys,
    );
  });

  it('the CSV carries the credits and medians', () => {
    const lines = campaignReportCsv(report(null, day, journeyDays))
      .trimEnd()
      .split('\r\n');
    expect(lines[1]!.endsWith(',6,6,6,1,1,1,8,17.5,')).toBe(true);
  });
});

describe('medianDays', () => {
  it('interpolates within the bucket of the middle person, for grouped data', () => {
    expect(medianDays(new Map([[0, 1]]))).toBe(0.5);
    expect(
      medianDays(
        new Map([
          [1, 2],
          [0, 2],
        ]),
      ),
    ).toBe(1);
    expect(medianDays(new Map([[5, 4]]))).toBe(6);
    // 10 + 1.5 / 3 × 4 = 12; four persons, one below: 21 + 1 / 3 × 9 = 24.
    expect(medianDays(new Map([[10, 3]]))).toBe(12);
    expect(
      medianDays(
        new Map([
          [21, 3],
          [0, 1],
        ]),
      ),
    ).toBe(24);
    // Rounded to a hundredth: 2 + 1 / 3 × 1.
    expect(
      medianDays(
        new Map([
          [1, 1],
          [2, 3],
        ]),
      ),
    ).toBe(2.33);
  });

  it('answers the lower bound of the last, open bucket; null for no person; buckets of another list by the next bound', () => {
    expect(medianDays(new Map([[180, 5]]))).toBe(180);
    expect(medianDays(new Map())).toBeNull();
    expect(medianDays(new Map([[7, 0]]))).toBeNull();
    expect(medianDays(new Map([[4, 1]]))).toBe(4.5);
  });
});
