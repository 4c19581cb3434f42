import { describe, expect, it } from 'vitest';
import { profileFromRecord } from '../domain/profile.js';
import { segmentsOf } from '../engine/decision-scope.js';
import { RulesetError } from '../errors.js';
import { buildRuleset, type RulesSource } from './load.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');

const campaigns = `campaigns:
  - id: c1
    name: One
    objective: cross_sell
`;
const offer = (extra = '') => `offers:
  - id: o1
    name: Offer one
    campaign: c1
    product: p1
    channels: [web]
    value: 10
    creatives:
      web: { headline: H, image: /i.png, link: /l }
${extra}`;

function problemsOf(sources: RulesSource[]) {
  try {
    buildRuleset(sources, NOW);
  } catch (err) {
    if (err instanceof RulesetError) return err.problems;
    throw err;
  }
  throw new Error('expected the ruleset to be rejected');
}

describe('buildRuleset', () => {
  it('compiles a valid ruleset into a versioned snapshot', () => {
    const s = buildRuleset([{ name: 'a.yaml', text: campaigns + offer() }], NOW);
    expect(s.offers.map((o) => o.id)).toEqual(['o1']);
    expect(s.version).toMatch(/^[0-9a-f]{12}$/);
    expect(s.loadedAt).toBe(NOW);
    // The same sources give the same version; any change gives another.
    expect(buildRuleset([{ name: 'a.yaml', text: campaigns + offer() }], NOW + 1).version).toBe(s.version);
    expect(buildRuleset([{ name: 'a.yaml', text: `${campaigns + offer()}\n` }], NOW).version).not.toBe(
      s.version,
    );
  });

  it('merges sections across files', () => {
    const s = buildRuleset(
      [
        { name: 'campaigns.yaml', text: campaigns },
        { name: 'offers.yaml', text: offer() },
      ],
      NOW,
    );
    expect(s.files).toEqual(['campaigns.yaml', 'offers.yaml']);
    expect(s.offers[0]?.campaign.id).toBe('c1');
  });

  it('knows how far back its contact policies look', () => {
    const policies = `contactPolicies:
  - channel: web
    limits: [{ max: 3, window: 7d }]
    suppressAfterReject: 30d
  - channel: all
    limits: [{ max: 9, window: 2d }]
    suppressAfterAccept: 90d
`;
    const s = buildRuleset([{ name: 'a.yaml', text: campaigns + offer() + policies }], NOW);
    expect(s.lookback).toEqual({ impressionsMs: 7 * 86_400_000, reactionsMs: 90 * 86_400_000 });
    expect(buildRuleset([{ name: 'a.yaml', text: campaigns + offer() }], NOW).lookback).toEqual({
      impressionsMs: 86_400_000,
      reactionsMs: 86_400_000,
    });
  });

  it('counts days since a date in the profile, each time the same', () => {
    const segments = `segments:
  - id: recent
    name: Recent
    when: daysSince(customer.opened) <= 90
`;
    const s = buildRuleset([{ name: 'a.yaml', text: campaigns + offer() + segments }], NOW);
    const isRecent = (opened: string | number) =>
      segmentsOf(s.segments, profileFromRecord({ id: 'c', attributes: { opened } }), {}, NOW).length === 1;
    for (let round = 0; round < 2; round++) {
      expect(isRecent('2026-10-01')).toBe(true);
      expect(isRecent('2025-01-01')).toBe(false);
      expect(isRecent('2026-08-24T12:00:00Z')).toBe(true); // exactly 90 days
      expect(isRecent('not a date')).toBe(false);
      expect(isRecent(NOW - 10 * 86_400_000)).toBe(true);
    }
  });

  it('reports YAML syntax errors with file and line', () => {
    const [p] = problemsOf([{ name: 'broken.yaml', text: 'offers:\n  - id: o1\n   name: [unclosed\n' }]);
    expect(p).toMatchObject({ file: 'broken.yaml' });
    expect(p?.line).toBeGreaterThanOrEqual(2);
    expect(p?.message).toMatch(/^YAML: /);
  });

  it('reports schema violations at the line of the offending value', () => {
    const text = campaigns + offer().replace('value: 10', 'value: -5');
    const [p] = problemsOf([{ name: 'offers.yaml', text }]);
    expect(p).toMatchObject({ file: 'offers.yaml', line: 11, path: '/offers/0/value' });
    expect(p?.message).toMatch(/>= 0/);
  });

  it('names unknown properties and missing ones', () => {
    const problems = problemsOf([
      { name: 'a.yaml', text: `${campaigns}    colour: blue\n` },
      { name: 'b.yaml', text: 'segments:\n  - id: s1\n' },
    ]);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: 'a.yaml', line: 2, message: "unknown property 'colour'" }),
        expect.objectContaining({ file: 'b.yaml', line: 2, message: "missing required property 'when'" }),
      ]),
    );
  });

  it('reports an unknown channel with the allowed values', () => {
    const [p] = problemsOf([{ name: 'a.yaml', text: campaigns + offer().replace('[web]', '[fax]') }]);
    expect(p?.message).toContain('call_center, web, mobile, sales_force, email');
    expect(p?.line).toBe(10);
  });

  it('reports a bad expression at its line and column in the file', () => {
    const text = `${campaigns + offer()}    when: customer.age > > 3\n`;
    const [p] = problemsOf([{ name: 'a.yaml', text }]);
    expect(p).toMatchObject({ file: 'a.yaml', line: 14, path: '/offers/0/when' });
    expect(p?.message).toMatch(/^expression: /);
    expect(p?.column).toBeGreaterThan(11);
  });

  it('rejects references to unknown campaigns and segments, and duplicate ids across files', () => {
    const problems = problemsOf([
      {
        name: 'a.yaml',
        text: `${campaigns}    segments: [nobody]\n${offer().replace('campaign: c1', 'campaign: c9')}`,
      },
      { name: 'b.yaml', text: campaigns },
    ]);
    const messages = problems.map((p) => `${p.file}:${p.line} ${p.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        "a.yaml:5 unknown segment 'nobody'",
        "a.yaml:9 unknown campaign 'c9'",
        "b.yaml:2 duplicate campaign id 'c1' (first defined in a.yaml)",
      ]),
    );
  });

  it('rejects an offer without a creative for a channel it lists', () => {
    const text = campaigns + offer().replace('[web]', '[web, email]');
    const [p] = problemsOf([{ name: 'a.yaml', text }]);
    expect(p?.message).toBe("no creative for channel 'email', which the offer lists");
  });

  it('rejects inSegment() of an unknown segment and segments that refer to each other in a cycle', () => {
    const segments = `segments:
  - id: a
    when: inSegment('b')
  - id: b
    when: inSegment('a') or inSegment('zzz')
`;
    const messages = problemsOf([{ name: 's.yaml', text: segments }]).map((p) => p.message);
    expect(messages.some((m) => m.includes("unknown segment 'zzz'"))).toBe(true);
    expect(messages.some((m) => m.includes('cycle'))).toBe(true);
  });

  it('does not let a segment depend on the request context', () => {
    const [p] = problemsOf([
      { name: 's.yaml', text: "segments:\n  - id: a\n    when: context.intent == 'x'\n" },
    ]);
    expect(p?.message).toMatch(/context/);
  });

  it('caps YAML aliases so that a billion-laughs file cannot exhaust memory', () => {
    const lol = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      lol.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    expect(() => buildRuleset([{ name: 'lol.yaml', text: lol.join('\n') }], NOW)).toThrow();
  });
});
