import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FIXTURE_PROFILES, FIXTURE_RULES } from '../../test/helpers.js';
import type { ContactEvent } from '../domain/contact.js';
import type { CustomerProfile } from '../domain/profile.js';
import { MemoryFeedbackLog } from '../feedback/log/memory-feedback-log.js';
import { loadRuleset } from '../ruleset/load.js';
import { MemoryCapCounters } from '../store/cap-counters.js';
import {
  type AppendOutcome,
  type ContactHistory,
  type ContactHistoryStore,
  MemoryContactHistoryStore,
} from '../store/contact-history-store.js';
import { MemoryProfileStore } from '../store/memory-profile-store.js';
import { readProfilesFile } from '../store/profile-file.js';
import type { ProfileLookup, ProfileStore } from '../store/profile-store.js';
import { type DecideCommand, type DecisionResult, DecisionService } from './decision-service.js';

// The service on the memory stores, with a clock of its own (never the calendar's). The deadline is
// a timer: those tests fake setTimeout only, and move it on by hand.

const T0 = Date.parse('2026-11-22T12:00:00Z');
const TIMEOUT_MS = 50;
const snapshot = await loadRuleset(FIXTURE_RULES, T0);
const fixtureProfiles = (await readProfilesFile(FIXTURE_PROFILES)).profiles;
const CALL: DecideCommand = { customerId: 'cust-2', channel: 'call_center' };

/** A promise the test settles when it wants: a store that is slow exactly as long as the test says. */
function gate(): { readonly passed: Promise<void>; open(): void } {
  let open = (): void => {};
  const passed = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { passed, open };
}

/** The memory history, with a hook before each compare-and-append (another server's append, a delay). */
class HookedHistory implements ContactHistoryStore {
  readonly inner = new MemoryContactHistoryStore();
  appendCalls = 0;
  beforeAppend: (call: number) => Promise<void> = () => Promise.resolve();
  read = (id: string): Promise<ContactHistory> => this.inner.read(id);
  lastSeen = (id: string): Promise<ContactHistory> => this.inner.lastSeen(id);
  append = (id: string, events: readonly ContactEvent[]): Promise<void> => this.inner.append(id, events);
  erase = (id: string): Promise<void> => this.inner.erase(id);
  async appendIfUnchanged(
    id: string,
    seen: ContactHistory,
    events: readonly ContactEvent[],
  ): Promise<AppendOutcome> {
    await this.beforeAppend(++this.appendCalls);
    return this.inner.appendIfUnchanged(id, seen, events);
  }
}

/** The memory profiles, whose reads wait for `slow` while it is set. */
class SlowProfiles implements ProfileStore {
  readonly kind = 'test';
  readonly inner: MemoryProfileStore;
  slow: Promise<void> | null = null;
  constructor(profiles: readonly CustomerProfile[]) {
    this.inner = new MemoryProfileStore(profiles);
  }
  async get(id: string): Promise<ProfileLookup> {
    if (this.slow !== null) await this.slow;
    return this.inner.get(id);
  }
  exists = (id: string): Promise<boolean> => this.inner.exists(id);
  update: ProfileStore['update'] = (id, change) => this.inner.update(id, change);
  delete = (id: string): Promise<boolean> => this.inner.delete(id);
  count = (): Promise<number> => this.inner.count();
  close = (): Promise<void> => this.inner.close();
}

function world(timeoutMs = 0, known: readonly CustomerProfile[] = fixtureProfiles) {
  let now = T0;
  const history = new HookedHistory();
  const profiles = new SlowProfiles(known);
  const counters = new MemoryCapCounters();
  const feedbackLog = new MemoryFeedbackLog(history, {
    windows: { reactionMs: 3_600_000, conversionMs: 86_400_000 },
    maxDecisions: 100,
    maxEntries: 100,
    clock: () => now,
  });
  const observed: DecisionResult[] = [];
  const service = new DecisionService({
    rules: { current: snapshot },
    profiles,
    history,
    counters,
    feedbackLog,
    clock: () => now,
    defaultLimit: 3,
    observer: { decided: (r) => observed.push(r) },
    timeoutMs,
  });
  const logged = () =>
    feedbackLog.entries().flatMap((e) => (e.kind === 'decision' ? [e.decision.decisionId] : []));
  const impressions = async (customerId: string) =>
    (await history.read(customerId)).events.filter((e) => e.outcome === 'impression');
  return {
    service,
    history,
    profiles,
    counters,
    observed,
    logged,
    impressions,
    later: (ms: number) => (now += ms),
  };
}

const offerIds = (r: DecisionResult | null): string[] => r?.engine.offers.map((o) => o.offer.id) ?? [];

/** What the decision shows when nothing gets in its way (the memory stores, nobody else deciding). */
async function undisturbed(command: DecideCommand): Promise<string[]> {
  return offerIds(await world().service.decide(command));
}

describe('DecisionService: a decision', () => {
  it('decides on the profile and records what it shows: history, cap counters, feedback log, observer', async () => {
    const w = world();
    w.later(1234);
    const result = await w.service.decide(CALL);
    expect(result).toMatchObject({
      customerId: 'cust-2',
      customerKnown: true,
      channel: 'call_center',
      placement: null,
      rulesetVersion: snapshot.version,
      decidedAt: T0 + 1234,
      degraded: false,
    });
    const offers = offerIds(result);
    expect(offers.length).toBeGreaterThan(0);
    expect(offers.length).toBeLessThanOrEqual(3);
    const shown = await w.impressions('cust-2');
    expect(shown.map((e) => e.offerId).sort()).toEqual([...offers].sort());
    for (const e of shown) expect(e).toMatchObject({ channel: 'call_center', at: T0 + 1234 });
    for (const offerId of offers) expect(w.counters.offerTotal(offerId)).toBe(1);
    expect(w.logged()).toEqual([result.decisionId]);
    expect(w.observed).toEqual([result]);
    expect(w.history.appendCalls).toBe(1);
  });

  it('serves a customer nobody knows as anonymous, and says so', async () => {
    const w = world();
    const result = await w.service.decide({ customerId: 'nobody', channel: 'call_center' });
    expect(result).toMatchObject({ customerId: 'nobody', customerKnown: false, degraded: false });
    expect(w.logged()).toEqual([result.decisionId]);
  });

  it('takes the limit from the command, else the default', async () => {
    const w = world();
    expect(offerIds(await w.service.decide({ ...CALL, limit: 1 }))).toHaveLength(1);
    expect((await w.service.decide({ ...CALL, customerId: 'cust-1' })).engine.limit).toBe(3);
  });
});

describe('DecisionService: a preview', () => {
  it('answers what the customer would get and leaves no trace; the next real decision shows the same', async () => {
    const w = world();
    const first = await w.service.decide({ ...CALL, preview: true });
    const second = await w.service.decide({ ...CALL, preview: true });
    expect(first).toMatchObject({ preview: true, decisionId: '', customerKnown: true });
    expect(offerIds(first).length).toBeGreaterThan(0);
    expect(offerIds(second)).toEqual(offerIds(first));
    // No trace: history, caps and budgets, the decision log, the observer (metrics).
    expect(await w.history.read('cust-2')).toMatchObject({ events: [] });
    expect(w.history.appendCalls).toBe(0);
    for (const offerId of offerIds(first)) expect(w.counters.offerTotal(offerId)).toBe(0);
    expect(w.logged()).toEqual([]);
    expect(w.observed).toEqual([]);
    const real = await w.service.decide(CALL);
    expect(real.preview).toBe(false);
    expect(offerIds(real)).toEqual(offerIds(first));
    expect(w.logged()).toEqual([real.decisionId]);
  });

  it('sees what real decisions recorded: each preview is the next decision, down to the used-up cap', async () => {
    const w = world();
    let shown = 0;
    for (let round = 0; round < 6; round++) {
      const preview = offerIds(await w.service.decide({ ...CALL, preview: true }));
      const real = offerIds(await w.service.decide(CALL));
      expect(real).toEqual(preview);
      shown += real.length;
    }
    // The fixture's call centre allows 4 offers a week: they were all shown, and no more.
    expect(shown).toBe(4);
    expect(w.logged()).toHaveLength(6);
  });
});

describe('DecisionService: another decision recorded meanwhile', () => {
  it('decides again on the newer history, so that what the other one recorded counts', async () => {
    const expected = await undisturbed(CALL);
    const rejected = expected[0]!;
    const w = world();
    // Another server records a rejection of the first offer between our read and our append.
    w.history.beforeAppend = (call) =>
      call === 1
        ? w.history.inner.append('cust-2', [
            { offerId: rejected, campaignId: 'x', channel: 'call_center', outcome: 'reject', at: T0 },
          ])
        : Promise.resolve();
    const result = await w.service.decide(CALL);
    expect(w.history.appendCalls).toBe(2);
    const offers = offerIds(result);
    expect(offers).not.toContain(rejected);
    expect(offers.length).toBeGreaterThan(0);
    // The second attempt's offers are recorded, once; the first attempt's are not.
    expect((await w.impressions('cust-2')).map((e) => e.offerId).sort()).toEqual([...offers].sort());
    expect(w.counters.offerTotal(rejected)).toBe(0);
    for (const offerId of offers) expect(w.counters.offerTotal(offerId)).toBe(1);
    expect(w.logged()).toEqual([result.decisionId]);
    expect(w.observed).toHaveLength(1);
  });

  it('shows nothing after three lost races, and records nothing but the decision', async () => {
    const w = world();
    // Every append loses: someone else always appended first.
    w.history.beforeAppend = (call) =>
      w.history.inner.append('cust-2', [
        { offerId: 'elsewhere', campaignId: 'x', channel: 'email', outcome: 'impression', at: T0 - call },
      ]);
    const result = await w.service.decide(CALL);
    expect(w.history.appendCalls).toBe(3);
    expect(result.engine.offers).toEqual([]);
    expect(result.customerKnown).toBe(true);
    expect(await w.impressions('cust-2')).toHaveLength(3);
    for (const offerId of await undisturbed(CALL)) expect(w.counters.offerTotal(offerId)).toBe(0);
    expect(w.logged()).toEqual([result.decisionId]);
  });
});

describe('DecisionService: the deadline', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers in time with the decision itself, and leaves no timer behind', async () => {
    const w = world(TIMEOUT_MS);
    const result = await w.service.decide(CALL);
    expect(result).toMatchObject({ customerKnown: true, degraded: false });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('answers with the fallback when the reads are too slow, and the late decision records nothing', async () => {
    const w = world(TIMEOUT_MS);
    const slow = gate();
    w.profiles.slow = slow.passed;
    const answer = w.service.decide(CALL);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(w.logged()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    const result = await answer;
    // The fallback: the anonymous customer's decision, with no history, marked degraded.
    expect(result).toMatchObject({
      customerId: 'cust-2',
      customerKnown: false,
      degraded: true,
      decidedAt: T0,
    });
    const anonymous = offerIds(await world(0, []).service.decide(CALL));
    expect(offerIds(result)).toEqual(anonymous);
    expect(w.logged()).toEqual([result.decisionId]);
    for (const offerId of anonymous) expect(w.counters.offerTotal(offerId)).toBe(1);

    slow.open();
    await vi.runAllTimersAsync();
    expect(w.history.appendCalls).toBe(0);
    expect(await w.impressions('cust-2')).toEqual([]);
    expect(w.logged()).toEqual([result.decisionId]);
    expect(w.observed).toEqual([result]);
  });

  it('stops recording when the deadline passes during the append', async () => {
    const w = world(TIMEOUT_MS);
    const slow = gate();
    w.history.beforeAppend = () => slow.passed;
    const answer = w.service.decide(CALL);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    const result = await answer;
    expect(result).toMatchObject({ customerKnown: false, degraded: true });
    const countsOfFallback = result.engine.offers.map((o) => w.counters.offerTotal(o.offer.id));

    slow.open();
    await vi.runAllTimersAsync();
    expect(w.history.appendCalls).toBe(1);
    // Neither counted nor logged: only the fallback was.
    expect(result.engine.offers.map((o) => w.counters.offerTotal(o.offer.id))).toEqual(countsOfFallback);
    for (const offerId of await undisturbed(CALL)) {
      if (!offerIds(result).includes(offerId)) expect(w.counters.offerTotal(offerId)).toBe(0);
    }
    expect(w.logged()).toEqual([result.decisionId]);
    expect(w.observed).toHaveLength(1);
  });

  it('answers null past the deadline to a caller with a fallback of its own, and records nothing', async () => {
    const w = world(TIMEOUT_MS);
    const slow = gate();
    w.profiles.slow = slow.passed;
    const answer = w.service.decideInTime(CALL);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    expect(await answer).toBeNull();
    slow.open();
    await vi.runAllTimersAsync();
    expect(w.logged()).toEqual([]);
    expect(w.observed).toEqual([]);
    expect(await w.impressions('cust-2')).toEqual([]);
  });

  it('has no deadline when timeoutMs is 0: a slow read is waited for', async () => {
    const w = world(0);
    const slow = gate();
    w.profiles.slow = slow.passed;
    const answer = w.service.decide(CALL);
    expect(vi.getTimerCount()).toBe(0);
    slow.open();
    expect(await answer).toMatchObject({ customerKnown: true, degraded: false });
  });
});
