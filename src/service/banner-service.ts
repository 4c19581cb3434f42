import { channelIndex } from '../domain/channel.js';
import { NotFoundError } from '../errors.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { WebCreative } from '../ruleset/source.js';
import type { DecisionResult, DecisionService } from './decision-service.js';

/** A website banner, ready to render: the creative of the best offer, or the placement's default. */
export interface Banner {
  readonly placement: string;
  readonly customerId: string | null;
  /** The decision that chose it; null for a default banner served without deciding. */
  readonly decisionId: string | null;
  readonly offerId: string | null;
  readonly campaignId: string | null;
  /** True when no offer was chosen and the placement's default banner is shown. */
  readonly default: boolean;
  readonly creative: WebCreative;
}

const WEB = channelIndex('web');

/** Banners for website placements: one decision on the web channel, limited to one offer. */
export class BannerService {
  constructor(
    private readonly deps: {
      readonly rules: Pick<RulesetHolder, 'current'>;
      readonly decisions: Pick<DecisionService, 'decideInTime'>;
    },
  ) {}

  /**
   * The banner for a customer (null: a visitor nobody knows yet, who gets the default). Not async:
   * the decision's promise is the only one a banner waits for.
   */
  banner(placement: string, customerId: string | null): Promise<Banner> {
    if (customerId === null) {
      try {
        return Promise.resolve(this.defaultBanner(placement, null, null));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.deps.decisions
      .decideInTime({ customerId, channel: 'web', placement, limit: 1 })
      .then((decision) => this.chosen(placement, customerId, decision));
  }

  /** The creative of the decision's offer, or the default (no offer; past the deadline, no decision). */
  private chosen(placement: string, customerId: string, decision: DecisionResult | null): Banner {
    // Past OFFERLOOP_DECISION_TIMEOUT_MS a page gets the placement's default rather than waiting.
    if (decision === null) return this.defaultBanner(placement, customerId, null);
    const chosen = decision.engine.offers[0];
    const creative = chosen?.offer.creatives[WEB] as WebCreative | null | undefined;
    if (chosen === undefined || !creative)
      return this.defaultBanner(placement, customerId, decision.decisionId);
    return {
      placement,
      customerId,
      decisionId: decision.decisionId,
      offerId: chosen.offer.id,
      campaignId: chosen.offer.campaign.id,
      default: false,
      creative,
    };
  }

  private defaultBanner(placement: string, customerId: string | null, decisionId: string | null): Banner {
    const defaults = this.deps.rules.current.defaultBanners;
    const creative = defaults.get(placement) ?? defaults.get('*');
    if (creative === undefined) {
      throw new NotFoundError(`no offer and no default banner for placement '${placement}'`);
    }
    return { placement, customerId, decisionId, offerId: null, campaignId: null, default: true, creative };
  }
}
