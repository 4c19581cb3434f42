/**
 * Plays the demo's past: some weeks of decisions, reactions and purchases through the real decision
 * service, feedback intake, feedback log and learning, on the demo clock, so that the demo server
 * starts with reports, uplift, learned estimates and dossiers that have something true to show.
 * Nothing is written by hand: the counters are what the feedback log made of the events.
 * Purchases come as the order system reports them, outcome events by customer and product, from
 * treated and control customers alike: the customer loop credits them to the customer's latest
 * touch, so the per-customer uplift compares like with like.
 *
 * `cust-1` … `cust-100` are left out (see UNTOUCHED_CUSTOMERS): the README's tour meets them fresh.
 */
import { CHANNELS, type Channel } from '../domain/channel.js';
import { Rng, round } from '../domain/random.js';
import { dayOf } from '../feedback/feedback-effects.js';
import type { FeedbackStatus } from '../feedback/feedback-event.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { CompiledOffer } from '../ruleset/snapshot.js';
import { DAY_MS } from '../ruleset/time.js';
import type { DecisionService } from '../service/decision-service.js';
import type { FeedbackInput, FeedbackService } from '../service/feedback-service.js';
import type { LearningService } from '../service/learning-service.js';
import type { DemoClock } from './demo-clock.js';
import {
  controlConversion,
  type DemoReaction,
  demoTraffic,
  respond,
  UNTOUCHED_CUSTOMERS,
} from './demo-world.js';

export interface DemoHistoryDeps {
  readonly clock: DemoClock;
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly decisions: Pick<DecisionService, 'decide'>;
  readonly feedback: Pick<FeedbackService, 'record'>;
  readonly learning: Pick<LearningService, 'refresh'>;
}

export interface DemoHistoryOptions {
  /** Decisions to play over the span of the clock. */
  readonly decisions: number;
  /** The population is `cust-1` … `cust-<customers>`. */
  readonly customers: number;
  readonly seed: number;
}

/** What the history did for one campaign, and its true effect. */
export interface CampaignHistory {
  /** Offers of the campaign shown (impressions). */
  shown: number;
  /** Offers of the campaign held out for its control group. */
  heldOut: number;
  accepts: number;
  /** Purchases of the campaign's products after a showing, and after a control group's hold-out. */
  conversions: number;
  controlConversions: number;
  /**
   * The true uplift of a showing, averaged over the offers shown: P(purchase | shown) −
   * P(purchase | not shown). The report's per-customer uplift counts a customer's showings of a
   * campaign within a week as one episode, so it measures somewhat more where customers come back.
   */
  trueUplift: number | null;
}

export interface DemoHistorySummary {
  readonly from: string;
  readonly to: string;
  readonly decisions: number;
  readonly offersShown: number;
  /** Feedback events the log accepted (every one should be). */
  readonly feedbackEvents: number;
  /** Events the log did not accept, by status (a bug in the player if any). */
  readonly notAccepted: Partial<Record<FeedbackStatus, number>>;
  readonly playedInMs: number;
  /** Customers the history leaves alone. */
  readonly untouched: string;
  readonly campaigns: Readonly<Record<string, CampaignHistory>>;
}

const HOUR_MS = 3_600_000;
/** Days between two refreshes of the learned model while the history plays. */
const LEARN_EVERY_DAYS = 4;
/** Events go to the intake an hour at a time, as a busy channel would batch them. */
const MAX_BATCH = 1000;

/** An event that is going to happen: it waits until the clock passes its hour. */
class PendingEvent {
  constructor(
    readonly at: number,
    readonly decisionId: string,
    readonly customerId: string,
    readonly offer: CompiledOffer,
    readonly type: DemoReaction['type'] | 'convert',
    /** A purchase by a customer in the offer's control group. */
    readonly heldOut: boolean,
  ) {}

  /**
   * A reaction as a channel sends it; a purchase as the order system reports it, by customer and
   * product without a decision, with the offer's value as its revenue.
   */
  input(eventNumber: number): FeedbackInput {
    const eventId = `demo-${eventNumber}`;
    const timestamp = isoSecond(this.at);
    if (this.type === 'purchase') {
      return {
        eventId,
        customerId: this.customerId,
        type: 'purchase',
        productId: this.offer.productId,
        value: this.offer.value,
        timestamp,
        source: 'order-system',
      };
    }
    return {
      eventId,
      decisionId: this.decisionId,
      offerId: this.offer.id,
      customerId: this.customerId,
      type: this.type,
      ...(this.type === 'convert' ? { value: this.offer.value } : {}),
      timestamp,
    };
  }
}

/** Plays the history from the clock's start to its end, then hands the clock over to real time. */
export async function playDemoHistory(
  deps: DemoHistoryDeps,
  options: DemoHistoryOptions,
): Promise<DemoHistorySummary> {
  const started = performance.now();
  const { clock, rules, decisions, feedback, learning } = deps;
  const snapshot = rules.current;
  const traffic = demoTraffic(options.seed, {
    start: clock.start,
    end: clock.end,
    decisions: options.decisions,
    customers: options.customers,
    placements: placementsOf(snapshot.channels.map((c) => [...c.byPlacement.keys()])),
  });
  const rng = new Rng(options.seed, 'demo-responses');
  // The true uplift is the mean of upliftSum over the offers shown, computed once at the end.
  const campaigns: Record<string, Omit<CampaignHistory, 'trueUplift'> & { upliftSum: number }> = {};
  const campaign = (id: string) => {
    campaigns[id] ??= {
      shown: 0,
      heldOut: 0,
      accepts: 0,
      conversions: 0,
      controlConversions: 0,
      upliftSum: 0,
    };
    return campaigns[id];
  };
  // Events wait in the hour they happen in, and go to the intake when the clock passes that hour.
  const pending = new Map<number, PendingEvent[]>();
  let events = 0;
  let accepted = 0;
  let offersShown = 0;
  const notAccepted: Partial<Record<FeedbackStatus, number>> = {};
  const schedule = (event: PendingEvent) => {
    if (event.at > clock.end) return; // not happened yet
    const hour = Math.floor(event.at / HOUR_MS);
    const list = pending.get(hour);
    if (list === undefined) pending.set(hour, [event]);
    else list.push(event);
  };
  const submit = async (batch: readonly PendingEvent[]) => {
    for (let i = 0; i < batch.length; i += MAX_BATCH) {
      const part = batch.slice(i, i + MAX_BATCH);
      const receipt = await feedback.record(part.map((e) => e.input(++events)));
      receipt.results.forEach((result, k) => {
        if (result.status !== 'accepted') {
          notAccepted[result.status] = (notAccepted[result.status] ?? 0) + 1;
          return;
        }
        accepted++;
        const { type, offer, heldOut } = part[k]!;
        const c = campaign(offer.campaign.id);
        if (type === 'accept') c.accepts++;
        else if (type === 'purchase') {
          if (heldOut) c.controlConversions++;
          else c.conversions++;
        }
      });
    }
  };
  let hour = Math.floor(clock.start / HOUR_MS);
  let learnedDay = dayOf(clock.start);
  /** Moves the clock hour by hour up to `at`, sending each hour's events at its end, and learns. */
  const playUntil = async (at: number) => {
    for (; (hour + 1) * HOUR_MS <= at; hour++) {
      clock.advance((hour + 1) * HOUR_MS);
      const batch = pending.get(hour);
      if (batch !== undefined) {
        pending.delete(hour);
        await submit(batch);
      }
      if (dayOf((hour + 1) * HOUR_MS) >= learnedDay + LEARN_EVERY_DAYS) {
        learnedDay = dayOf((hour + 1) * HOUR_MS);
        // As a server refreshes its model (less often: each refresh sums every day so far), later
        // decisions of the history use what the earlier ones taught.
        await learning.refresh();
      }
    }
    clock.advance(at);
  };

  for (const interaction of traffic) {
    await playUntil(interaction.at);
    const result = await decisions.decide({
      customerId: interaction.customerId,
      channel: interaction.channel,
      placement: interaction.placement ?? undefined,
      limit: interaction.limit,
    });
    const { decisionId, customerId, decidedAt } = result;
    for (const chosen of result.engine.offers) {
      offersShown++;
      const campaignId = chosen.offer.campaign.id;
      const response = respond(rng, campaignId, chosen.prior, interaction.channel);
      const c = campaign(campaignId);
      c.shown++;
      c.upliftSum += response.trueUplift;
      for (const { type, afterMs } of response.reactions) {
        const at = decidedAt + afterMs;
        if (type === 'purchase') {
          // The channel reports the conversion at once, the order system the purchase an hour later:
          // the offer's funnel counts the conversion, and the customer converts once (ADR 0007).
          schedule(new PendingEvent(at, decisionId, customerId, chosen.offer, 'convert', false));
          schedule(new PendingEvent(at + HOUR_MS, decisionId, customerId, chosen.offer, 'purchase', false));
        } else {
          schedule(new PendingEvent(at, decisionId, customerId, chosen.offer, type, false));
        }
      }
    }
    for (const held of result.engine.heldOut) {
      campaign(held.offer.campaign.id).heldOut++;
      const after = controlConversion(rng, held.offer.campaign.id, held.prior);
      if (after !== null) {
        schedule(new PendingEvent(decidedAt + after, decisionId, customerId, held.offer, 'purchase', true));
      }
    }
  }
  await playUntil(clock.end);
  // The hour the history ends in: what happened before its end.
  await submit(pending.get(hour) ?? []);
  pending.clear();
  clock.finish();
  // The model the server starts with is the one this history teaches (not after the first refresh period).
  await learning.refresh();

  const summary: Record<string, CampaignHistory> = {};
  for (const [id, { upliftSum, ...c }] of Object.entries(campaigns).sort(([a], [b]) => (a < b ? -1 : 1))) {
    summary[id] = { ...c, trueUplift: c.shown > 0 ? round(upliftSum / c.shown, 4) : null };
  }
  return {
    from: new Date(clock.start).toISOString(),
    to: new Date(clock.end).toISOString(),
    decisions: traffic.length,
    offersShown,
    feedbackEvents: accepted,
    notAccepted,
    playedInMs: Math.round(performance.now() - started),
    untouched: `cust-1 … cust-${UNTOUCHED_CUSTOMERS}`,
    campaigns: summary,
  };
}

const dayPrefixes = new Map<number, string>();
const two = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * `YYYY-MM-DDTHH:MM:SSZ`: to the second, which is all the intake reads, and cheaper than
 * toISOString (measured: a tenth of the player's own time went there).
 */
function isoSecond(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    prefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    dayPrefixes.set(day, prefix);
  }
  const s = Math.floor((ms - day * DAY_MS) / 1000);
  return `${prefix}${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}Z`;
}

/** Channel index → placements (as snapshot.channels lists them) to channel name → placements. */
function placementsOf(byIndex: readonly (readonly string[])[]): Partial<Record<Channel, readonly string[]>> {
  const out: Partial<Record<Channel, readonly string[]>> = {};
  byIndex.forEach((placements, i) => {
    const channel = CHANNELS[i];
    if (channel !== undefined) out[channel] = [...placements].sort();
  });
  return out;
}
