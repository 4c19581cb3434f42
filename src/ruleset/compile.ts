import { CHANNELS, type Channel, channelIndex } from '../domain/channel.js';
import { idIndex, internId, oneByte } from '../domain/intern.js';
import { stableHash32 } from '../domain/stable-hash.js';
import { RulesetError, type RulesProblem } from '../errors.js';
import { Associations } from './associations.js';
import {
  type CompileOptions,
  compileCondition,
  compileExpression,
  ExpressionError,
  type ExprFunction,
  NOT_CONSTANT,
  type Value,
} from './expr/index.js';
import type {
  CandidateList,
  ChannelIndex,
  ChannelPolicy,
  CompiledCampaign,
  CompiledFactor,
  CompiledGoal,
  CompiledLifecycleStage,
  CompiledOffer,
  CompiledSegment,
  CompiledTrigger,
  ContactLookback,
  EvalContext,
  Kpi,
  RulesetSnapshot,
  SegmentAssumption,
  SegmentEconomics,
} from './snapshot.js';
import type {
  ContactPolicySource,
  Creative,
  RulesFile,
  SegmentAssumptionSource,
  SegmentEconomicsSource,
  WebCreative,
} from './source.js';
import { DAY_MS, parseDate, parseDuration } from './time.js';

/** One parsed rules file and a way to find the source position of any value in it. */
export interface ParsedRulesFile {
  readonly name: string;
  readonly content: RulesFile;
  locate(path: readonly (string | number)[]): { line: number; column: number };
}

export interface CompileMeta {
  readonly version: string;
  readonly loadedAt: number;
}

const UNBOUNDED = Number.POSITIVE_INFINITY;

/**
 * Turns validated rules files into an immutable snapshot: checks references and uniqueness,
 * compiles every expression once, and builds the candidate indexes the engine walks.
 * Pure: no I/O. Collects every problem before failing, so an analyst fixes a file in one pass.
 */
export function compileRuleset(
  files: readonly ParsedRulesFile[],
  meta: CompileMeta,
  associations: Associations = Associations.NONE,
): RulesetSnapshot {
  // 1. Every step reports its problems here, at their file and line, and carries on.
  const problems: RulesProblem[] = [];
  const problem = problemReporter(problems);
  // 2. Segments first: campaigns and conditions refer to them.
  const { segments, segmentById, offerOptions } = compileSegments(files, problem, associations);
  // 3. Campaigns, with their target segments.
  const { campaigns, campaignById } = compileCampaigns(files, problem, segmentById);
  checkAssumedCampaigns(files, problem, campaignById);
  // 4. Offers, with their campaign, conditions and placements.
  const { offers, offerById, placements } = compileOffers(files, problem, campaignById, offerOptions);
  // 5. Contact policies, default banners, the global holdout.
  const { policies, globalPolicy } = compilePolicies(files, problem);
  const defaultBanners = compileDefaultBanners(files, problem);
  const globalHoldout = compileGlobalHoldout(files, problem);
  const lifecycle = compileLifecycle(files, problem, offerOptions);
  // 5b. The plan: goals, their critical success factors, and the campaigns serving those.
  const goals = compilePlan(files, problem, campaigns);
  // 5c. Real-time triggers: event type and condition → a decision on a channel, pushed.
  const triggers = compileTriggers(files, problem, offerOptions);
  if (problems.length > 0) throw new RulesetError(problems);
  // 6. The snapshot, with the candidate indexes per channel and placement.
  return {
    version: meta.version,
    loadedAt: meta.loadedAt,
    files: files.map((f) => f.name),
    segments,
    economicSegments: segments.filter((segment) => segment.economics !== null),
    campaigns,
    offers,
    segmentById,
    campaignById,
    offerById,
    policies,
    globalPolicy,
    lookback: lookbackOf([...policies, globalPolicy]),
    channels: CHANNELS.map((channel, i) => indexChannel(offers, channel, placements[i]!)),
    defaultBanners,
    globalHoldout,
    lifecycle,
    associations,
    goals,
    triggers,
  };
}

/** Records a problem at a value of a file, or at an offset inside an expression there. */
function problemReporter(problems: RulesProblem[]): ProblemAt {
  return (file, path, message, offset) => {
    const at = file.locate(path);
    const line = at.line + (offset ? offset.line - 1 : 0);
    const column = offset ? (offset.line > 1 ? offset.column : at.column + offset.column - 1) : at.column;
    problems.push({ file: file.name, line, column, path: `/${path.join('/')}`, message });
  };
}

/** Compiles one expression, or reports why it does not compile (at its place in the file) and gives null. */
function compileOrReport<T>(
  problem: ProblemAt,
  file: ParsedRulesFile,
  path: (string | number)[],
  compile: () => T,
): T | null {
  try {
    return compile();
  } catch (err) {
    if (!(err instanceof ExpressionError)) throw err;
    problem(file, path, `expression: ${err.message}`, err);
    return null;
  }
}

interface Segments {
  readonly segments: CompiledSegment[];
  readonly segmentById: Map<string, CompiledSegment>;
  /** What offers' conditions and propensities compile with: they may name the segments. */
  readonly offerOptions: CompileOptions<EvalContext>;
}

function compileSegments(
  files: readonly ParsedRulesFile[],
  problem: ProblemAt,
  associations: Associations,
): Segments {
  const sources = collect(files, 'segments', problem);
  const segmentById = new Map<string, CompiledSegment>();
  const segmentDeps = new Map<string, string[]>();
  const segments: CompiledSegment[] = [];
  // The segments the condition being compiled names; null once segments are done.
  let currentDeps: string[] | null = null;
  const offerOptions = expressionOptions(segmentById, (id) => currentDeps?.push(id), associations);
  // Segments describe the customer, not the request: reports and learned rates are kept per segment.
  const segmentOptions: CompileOptions<EvalContext> = {
    ...offerOptions,
    roots: { customer: (s) => s.customer },
  };
  // Ids are known before any condition compiles, so inSegment() may name a segment defined later.
  for (const { item } of sources) segmentById.set(item.id, placeholderSegment(item.id));
  for (const { file, item, path } of sources) {
    currentDeps = [];
    const when = compileOrReport(problem, file, [...path, 'when'], () =>
      compileCondition(item.when, segmentOptions),
    );
    segmentDeps.set(item.id, currentDeps);
    currentDeps = null;
    const compiled: CompiledSegment = {
      ordinal: segments.length,
      // Ids as flat one-byte strings: every log entry, counter field and answer is built from them.
      id: oneByte(item.id),
      name: item.name ?? item.id,
      when: when ?? (() => false),
      reason: oneByte(`segment:${item.id}`),
      economics: item.economics === undefined ? null : economicsOf(item.economics),
      assumption: item.assumption === undefined ? null : assumptionOf(item.assumption),
    };
    segments.push(compiled);
    segmentById.set(item.id, compiled);
  }
  reportSegmentCycles(sources, segmentDeps, problem);
  return { segments, segmentById, offerOptions };
}

function reportSegmentCycles(
  sources: readonly Sourced<'segments'>[],
  segmentDeps: ReadonlyMap<string, readonly string[]>,
  problem: ProblemAt,
): void {
  for (const cycle of findCycles(segmentDeps)) {
    const at = sources.find((s) => s.item.id === cycle[0]);
    if (at)
      problem(at.file, [...at.path, 'when'], `segments refer to each other in a cycle: ${cycle.join(' → ')}`);
  }
}

function compileCampaigns(
  files: readonly ParsedRulesFile[],
  problem: ProblemAt,
  segmentById: ReadonlyMap<string, CompiledSegment>,
): { campaigns: CompiledCampaign[]; campaignById: Map<string, CompiledCampaign> } {
  const campaignById = new Map<string, CompiledCampaign>();
  const campaigns: CompiledCampaign[] = [];
  for (const source of collect(files, 'campaigns', problem)) {
    const compiled = compileCampaign(source, campaigns.length, problem, segmentById);
    campaigns.push(compiled);
    campaignById.set(compiled.id, compiled);
  }
  return { campaigns, campaignById };
}

function compileCampaign(
  { file, item, path }: Sourced<'campaigns'>,
  ordinal: number,
  problem: ProblemAt,
  segmentById: ReadonlyMap<string, CompiledSegment>,
): CompiledCampaign {
  const targets: CompiledSegment[] = [];
  (item.segments ?? []).forEach((id, i) => {
    const s = segmentById.get(id);
    if (s) targets.push(s);
    else problem(file, [...path, 'segments', i], `unknown segment '${id}'`);
  });
  const start = dateOr(item.schedule?.start, Number.NEGATIVE_INFINITY);
  const end = dateOr(item.schedule?.end, UNBOUNDED, DAY_MS - 1);
  if (start > end) problem(file, [...path, 'schedule'], 'schedule.start is after schedule.end');
  const kpis = campaignKpis({ file, item, path }, problem);
  return {
    ordinal,
    id: oneByte(item.id),
    name: item.name,
    objective: item.objective,
    kpi: kpis[0] ?? null,
    kpis,
    serves: item.serves ?? [],
    segments: targets,
    start,
    end,
    controlShare: item.controlGroup ?? 0,
    salt: stableHash32(item.id),
    priority: item.priority ?? 1,
    budget: item.budget ?? null,
    capTotal: item.caps?.total ?? UNBOUNDED,
    capPerDay: item.caps?.perDay ?? UNBOUNDED,
    reason: oneByte(`campaign:${item.id}`),
  };
}

/** A campaign's `kpis`, or its older single `kpi` as one; each metric once, not both forms. */
function campaignKpis({ file, item, path }: Sourced<'campaigns'>, problem: ProblemAt): Kpi[] {
  if (item.kpi !== undefined && item.kpis !== undefined)
    problem(
      file,
      [...path, 'kpi'],
      'kpi and kpis are both set: write kpis only (kpi is its older, single form)',
    );
  const sources = item.kpis ?? (item.kpi === undefined ? [] : [item.kpi]);
  const kpis: Kpi[] = [];
  sources.forEach((kpi, i) => {
    if (kpis.some((k) => k.metric === kpi.metric))
      problem(file, [...path, 'kpis', i, 'metric'], `a second KPI on '${kpi.metric}'`);
    else kpis.push(Object.freeze({ metric: kpi.metric, target: kpi.target }));
  });
  return kpis;
}

/**
 * The goals with their factors, and each factor with the campaigns whose `serves` name it. A factor
 * names a goal, a campaign names factors: unknown ids are reported where they are written.
 */
function compilePlan(
  files: readonly ParsedRulesFile[],
  problem: ProblemAt,
  campaigns: readonly CompiledCampaign[],
): CompiledGoal[] {
  const goalSources = collect(files, 'goals', problem);
  const goalIds = new Set(goalSources.map((g) => g.item.id));
  const factorSources = collect(files, 'factors', problem);
  const factorIds = new Set(factorSources.map((f) => f.item.id));
  const factors: CompiledFactor[] = [];
  for (const { file, item, path } of factorSources) {
    if (!goalIds.has(item.goal)) {
      problem(
        file,
        [...path, 'goal'],
        `unknown goal '${item.goal}' (known: ${[...goalIds].join(', ') || 'none'})`,
      );
      continue;
    }
    factors.push({
      id: oneByte(item.id),
      name: item.name,
      description: item.description ?? null,
      goalId: item.goal,
      metric: item.metric,
      target: item.target,
      campaigns: campaigns.filter((c) => c.serves.includes(item.id)),
    });
  }
  for (const file of files) {
    (file.content.campaigns ?? []).forEach((campaign, i) => {
      (campaign.serves ?? []).forEach((id, j) => {
        if (!factorIds.has(id))
          problem(
            file,
            ['campaigns', i, 'serves', j],
            `unknown factor '${id}' (known: ${[...factorIds].join(', ') || 'none'})`,
          );
      });
    });
  }
  return goalSources.map(({ file, item, path }) => {
    const start = dateOr(item.period.start, Number.NEGATIVE_INFINITY);
    const end = dateOr(item.period.end, UNBOUNDED, DAY_MS - 1);
    if (start > end) problem(file, [...path, 'period'], 'period.start is after period.end');
    return {
      id: oneByte(item.id),
      name: item.name,
      description: item.description ?? null,
      objective: item.objective,
      target: { metric: item.target.metric, value: item.target.value },
      start,
      end,
      factors: factors.filter((f) => f.goalId === item.id),
    };
  });
}

/** Per channel (by index): the placements of each offer that lists some there; no entry: all of them. */
type OfferPlacements = Map<string, ReadonlySet<string> | null>[];

function compileOffers(
  files: readonly ParsedRulesFile[],
  problem: ProblemAt,
  campaignById: ReadonlyMap<string, CompiledCampaign>,
  options: CompileOptions<EvalContext>,
): { offers: CompiledOffer[]; offerById: Map<string, CompiledOffer>; placements: OfferPlacements } {
  const offers: CompiledOffer[] = [];
  const offerById = new Map<string, CompiledOffer>();
  const placements: OfferPlacements = CHANNELS.map(() => new Map());
  for (const source of collect(files, 'offers', problem)) {
    const compiled = compileOffer(source, offers.length, problem, campaignById, options, placements);
    if (compiled === null) continue;
    offers.push(compiled);
    offerById.set(compiled.id, compiled);
  }
  return { offers, offerById, placements };
}

/**
 * One offer, its placements recorded in `placements`; null when its campaign is unknown (reported,
 * and so are the offer's other problems).
 */
function compileOffer(
  source: Sourced<'offers'>,
  ordinal: number,
  problem: ProblemAt,
  campaignById: ReadonlyMap<string, CompiledCampaign>,
  options: CompileOptions<EvalContext>,
  placements: OfferPlacements,
): CompiledOffer | null {
  const { file, item, path } = source;
  const campaign = campaignById.get(item.campaign);
  if (!campaign) problem(file, [...path, 'campaign'], `unknown campaign '${item.campaign}'`);
  const creatives = offerCreatives(source, problem);
  recordPlacements(source, problem, placements);
  const validFrom = dateOr(item.validity?.from, Number.NEGATIVE_INFINITY);
  const validTo = dateOr(item.validity?.to, UNBOUNDED, DAY_MS - 1);
  if (validFrom > validTo) problem(file, [...path, 'validity'], 'validity.from is after validity.to');
  const whenSource = item.when;
  const when =
    whenSource === undefined
      ? null
      : compileOrReport(problem, file, [...path, 'when'], () => compileCondition(whenSource, options));
  const propensitySource = item.propensity;
  const propensity =
    propensitySource === undefined
      ? null
      : compileOrReport(problem, file, [...path, 'propensity'], () =>
          compileExpression(propensitySource, options),
        );
  if (!campaign) return null;
  const weight = item.weight ?? 1;
  return {
    ordinal,
    id: oneByte(item.id),
    name: item.name,
    campaign,
    productId: internId(item.product),
    group: oneByte(item.group ?? item.product),
    holdsOnAccept: item.holdsOnAccept ?? false,
    channels: item.channels,
    value: item.value,
    weight,
    basePropensity: item.basePropensity ?? 0.01,
    worth: item.value * weight * campaign.priority,
    validFrom,
    validTo,
    when,
    propensity,
    capTotal: item.caps?.total ?? UNBOUNDED,
    capPerDay: item.caps?.perDay ?? UNBOUNDED,
    creatives,
    affinityReason: oneByte(`affinity:${item.product}`),
    associationReason: oneByte(`association:${item.product}`),
  };
}

/** The offer's creative per channel (by index), null on a channel it does not list. */
function offerCreatives({ file, item, path }: Sourced<'offers'>, problem: ProblemAt): (Creative | null)[] {
  const creatives: (Creative | null)[] = CHANNELS.map(() => null);
  for (const channel of item.channels) {
    const creative = item.creatives[channel];
    if (creative) creatives[channelIndex(channel)] = creative;
    else problem(file, [...path, 'creatives'], `no creative for channel '${channel}', which the offer lists`);
  }
  return creatives;
}

function recordPlacements(
  { file, item, path }: Sourced<'offers'>,
  problem: ProblemAt,
  placements: OfferPlacements,
): void {
  for (const [channel, list] of Object.entries(item.placements ?? {})) {
    if (!item.channels.includes(channel as Channel)) {
      problem(
        file,
        [...path, 'placements', channel],
        `placements for '${channel}', which the offer does not list`,
      );
    } else if (list) {
      placements[channelIndex(channel)]!.set(item.id, new Set(list));
    }
  }
}

function compilePolicies(
  files: readonly ParsedRulesFile[],
  problem: ProblemAt,
): { policies: ChannelPolicy[]; globalPolicy: ChannelPolicy } {
  const byChannel = new Map<string, ChannelPolicy>();
  for (const file of files) {
    (file.content.contactPolicies ?? []).forEach((source, i) => {
      if (byChannel.has(source.channel)) {
        problem(file, ['contactPolicies', i, 'channel'], `a second contact policy for '${source.channel}'`);
        return;
      }
      byChannel.set(source.channel, compilePolicy(source));
    });
  }
  const policies = CHANNELS.map((c) => byChannel.get(c) ?? compilePolicy({ channel: c }));
  return { policies, globalPolicy: byChannel.get('all') ?? compilePolicy({ channel: 'all' }) };
}

function compilePolicy(source: ContactPolicySource): ChannelPolicy {
  const ms = (d: string | undefined) => (d === undefined ? 0 : (parseDuration(d) ?? 0));
  return {
    channel: source.channel,
    limits: (source.limits ?? []).map((l) => ({ max: l.max, windowMs: ms(l.window) })),
    suppressAfterRejectMs: ms(source.suppressAfterReject),
    suppressAfterAcceptMs: ms(source.suppressAfterAccept),
    suppressGroupAfterAccept: source.suppressGroupAfterAccept ?? false,
    cost: source.cost ?? 0,
    preferredFit: source.preferredChannelFit ?? 1,
    otherFit: source.otherChannelFit ?? 1,
    requiresConsent: source.requiresConsent ?? false,
  };
}

function compileDefaultBanners(
  files: readonly ParsedRulesFile[],
  problem: ProblemAt,
): Map<string, WebCreative> {
  const banners = new Map<string, WebCreative>();
  for (const file of files) {
    (file.content.banners ?? []).forEach(({ placement, ...creative }, i) => {
      if (banners.has(placement)) {
        problem(file, ['banners', i, 'placement'], `a second default banner for placement '${placement}'`);
        return;
      }
      banners.set(placement, Object.freeze(creative));
    });
  }
  return banners;
}

function compileGlobalHoldout(files: readonly ParsedRulesFile[], problem: ProblemAt): number {
  let share = 0;
  let setBy: string | null = null;
  for (const file of files) {
    const value = file.content.globalHoldout;
    if (value === undefined) continue;
    if (setBy !== null) problem(file, ['globalHoldout'], `globalHoldout is already set in ${setBy}`);
    setBy = file.name;
    share = value;
  }
  return share;
}

/** Triggers by event type, in ruleset order; each id once across files. */
function compileTriggers(
  files: readonly ParsedRulesFile[],
  problem: ProblemAt,
  options: CompileOptions<EvalContext>,
): Map<string, CompiledTrigger[]> {
  const byType = new Map<string, CompiledTrigger[]>();
  const seen = new Map<string, string>();
  for (const file of files) {
    (file.content.triggers ?? []).forEach((source, i) => {
      const path = ['triggers', i];
      const first = seen.get(source.id);
      if (first !== undefined) {
        problem(file, [...path, 'id'], `duplicate trigger id '${source.id}' (first defined in ${first})`);
        return;
      }
      seen.set(source.id, file.name);
      // The event is read where a decision reads its context: `event.type`, `event.cartValue`.
      const when =
        source.when === undefined
          ? null
          : compileOrReport(problem, file, [...path, 'when'], () =>
              compileCondition(source.when!, {
                ...options,
                roots: { customer: (c) => c.customer, event: (c) => c.context },
              }),
            );
      const trigger: CompiledTrigger = {
        id: source.id,
        on: source.on,
        when: when ?? (source.when === undefined ? null : () => false),
        channel: source.channel,
        placement: source.placement ?? null,
        limit: source.limit ?? 1,
        subscribers: source.notify.includes('subscribers'),
        adviser: source.notify.includes('adviser'),
        webhooks: source.notify
          .filter((n) => n.startsWith('webhook:'))
          .map((n) => n.slice('webhook:'.length)),
      };
      const list = byType.get(source.on) ?? [];
      list.push(trigger);
      byType.set(source.on, list);
    });
  }
  return byType;
}

/** The lifecycle stages, in their order; one file at most defines them, each id once. */
function compileLifecycle(
  files: readonly ParsedRulesFile[],
  problem: ProblemAt,
  options: CompileOptions<EvalContext>,
): CompiledLifecycleStage[] {
  const stages: CompiledLifecycleStage[] = [];
  let setBy: string | null = null;
  for (const file of files) {
    const sources = file.content.lifecycle;
    if (sources === undefined) continue;
    if (setBy !== null) problem(file, ['lifecycle'], `lifecycle is already set in ${setBy}`);
    setBy = file.name;
    sources.forEach((source, i) => {
      if (stages.some((s) => s.id === source.id))
        problem(file, ['lifecycle', i, 'id'], `duplicate lifecycle stage '${source.id}'`);
      // Like a segment's: a stage describes the customer, not a request.
      const when = compileOrReport(problem, file, ['lifecycle', i, 'when'], () =>
        compileCondition(source.when, { ...options, roots: { customer: (c) => c.customer } }),
      );
      stages.push({
        id: source.id,
        name: source.name ?? source.id,
        funnel: source.funnel,
        when: when ?? (() => false),
      });
    });
  }
  return stages;
}

function lookbackOf(policies: readonly ChannelPolicy[]): ContactLookback {
  let impressionsMs = DAY_MS;
  let reactionsMs = DAY_MS;
  for (const policy of policies) {
    for (const limit of policy.limits) impressionsMs = Math.max(impressionsMs, limit.windowMs);
    reactionsMs = Math.max(reactionsMs, policy.suppressAfterAcceptMs, policy.suppressAfterRejectMs);
  }
  return { impressionsMs, reactionsMs: Math.max(reactionsMs, impressionsMs) };
}

interface ExprOffset {
  readonly line: number;
  readonly column: number;
}

/** Reports a problem at a value of a file, optionally at an offset inside an expression there. */
type ProblemAt = (
  file: ParsedRulesFile,
  path: (string | number)[],
  message: string,
  offset?: ExprOffset,
) => void;

type Section = 'segments' | 'campaigns' | 'offers' | 'goals' | 'factors';
type Item<S extends Section> = NonNullable<RulesFile[S]>[number];
/** An item of a section, with the file it is in and its path there. */
interface Sourced<S extends Section> {
  readonly file: ParsedRulesFile;
  readonly item: Item<S>;
  readonly path: (string | number)[];
}

/** Every item of one section across files, with duplicates reported where they repeat. */
function collect<S extends Section>(
  files: readonly ParsedRulesFile[],
  section: S,
  problem: ProblemAt,
): Sourced<S>[] {
  const seen = new Map<string, string>();
  const out: Sourced<S>[] = [];
  for (const file of files) {
    const items = (file.content[section] ?? []) as Item<S>[];
    items.forEach((item, i) => {
      const path = [section, i];
      const first = seen.get(item.id);
      if (first !== undefined) {
        problem(
          file,
          [...path, 'id'],
          `duplicate ${section.slice(0, -1)} id '${item.id}' (first defined in ${first})`,
        );
        return;
      }
      seen.set(item.id, file.name);
      out.push({ file, item, path });
    });
  }
  return out;
}

/** The channel's candidate lists: all its offers, per placement, and those with no placement list. */
function indexChannel(
  offers: readonly CompiledOffer[],
  channel: Channel,
  placements: ReadonlyMap<string, ReadonlySet<string> | null>,
): ChannelIndex {
  const onChannel = offers.filter((o) => o.channels.includes(channel));
  const names = new Set<string>();
  for (const set of placements.values()) for (const p of set ?? []) names.add(p);
  const open = (o: CompiledOffer) => !placements.get(o.id);
  const byPlacement = new Map<string, CandidateList>();
  for (const name of names) {
    byPlacement.set(
      name,
      buildCandidateList(onChannel.filter((o) => open(o) || placements.get(o.id)!.has(name))),
    );
  }
  return {
    all: buildCandidateList(onChannel),
    byPlacement,
    unlisted: buildCandidateList(onChannel.filter(open)),
  };
}

/**
 * The offers best static score first (base propensity × worth: the order without an affinity),
 * and indexed by product and by propensity expression, for the engine's walk.
 */
function buildCandidateList(offers: readonly CompiledOffer[]): CandidateList {
  const byStaticScore = [...offers].sort(
    (a, b) => b.basePropensity * b.worth - a.basePropensity * a.worth || a.ordinal - b.ordinal,
  );
  // A packed array (no holes) indexed by product number: an array read on the hot path.
  const size = offers.reduce((max, o) => Math.max(max, idIndex(o.productId) + 1), 0);
  const byProduct: (CompiledOffer[] | undefined)[] = new Array(size).fill(undefined);
  for (const o of byStaticScore) {
    const i = idIndex(o.productId);
    const list = byProduct[i];
    if (list) list.push(o);
    else byProduct[i] = [o];
  }
  return { byStaticScore, byProduct, byExpression: byStaticScore.filter((o) => o.propensity !== null) };
}

function dateOr(text: string | undefined, fallback: number, add = 0): number {
  if (text === undefined) return fallback;
  const ms = parseDate(text);
  if (ms === null) return fallback;
  // A bare date as an end means the whole of that day.
  return text.length === 10 ? ms + add : ms;
}

function economicsOf(source: SegmentEconomicsSource): SegmentEconomics {
  return {
    preferredChannel: source.preferredChannel ?? null,
    careIntensity: source.careIntensity ?? 1,
    cost: CHANNELS.map((channel) => source.contactCost?.[channel] ?? null),
  };
}

function placeholderSegment(id: string): CompiledSegment {
  return {
    ordinal: -1,
    id,
    name: id,
    when: () => false,
    reason: `segment:${id}`,
    economics: null,
    assumption: null,
  };
}

function assumptionOf(source: SegmentAssumptionSource): SegmentAssumption {
  return {
    acceptRate: source.acceptRate ?? null,
    bestChannel: source.bestChannel ?? null,
    respondsTo: (source.respondsTo ?? []).map(oneByte),
  };
}

/**
 * A segment's assumed campaigns must exist and target it: a decision counts a customer's response
 * under the campaign's target segment that reached them, so a campaign that does not target the
 * segment never has a response of it to check.
 */
function checkAssumedCampaigns(
  files: readonly ParsedRulesFile[],
  problem: ProblemAt,
  campaignById: ReadonlyMap<string, CompiledCampaign>,
): void {
  for (const file of files) {
    (file.content.segments ?? []).forEach((segment, i) => {
      (segment.assumption?.respondsTo ?? []).forEach((id, j) => {
        const at = ['segments', i, 'assumption', 'respondsTo', j];
        const campaign = campaignById.get(id);
        if (campaign === undefined) problem(file, at, `unknown campaign '${id}'`);
        else if (!campaign.segments.some((s) => s.id === segment.id)) {
          const targets = campaign.segments.map((s) => s.id).join(', ');
          problem(
            file,
            at,
            `campaign '${id}' does not target segment '${segment.id}' (${targets ? `it targets ${targets}` : 'it targets everybody'}): the segment's responses to it are never counted`,
          );
        }
      });
    });
  }
}

// Dates in profiles are strings (`accountOpened: 2019-04-02`), read by daysSince() on every
// evaluation; a population has few distinct ones, so each is parsed once. Bounded: cleared when full.
const parsedDates = new Map<string, number | null>();

function profileDate(text: string): number | null {
  let ms = parsedDates.get(text);
  if (ms === undefined) {
    if (parsedDates.size >= 50_000) parsedDates.clear();
    ms = parseDate(text);
    parsedDates.set(text, ms);
  }
  return ms;
}

/** Expression roots and the domain functions analysts use in conditions. */
function expressionOptions(
  segmentById: ReadonlyMap<string, CompiledSegment>,
  onSegmentReference: (id: string) => void,
  associations: Associations,
): CompileOptions<EvalContext> {
  const constantString = (what: string) => (args: readonly (Value | typeof NOT_CONSTANT)[]) =>
    args[0] === NOT_CONSTANT || typeof args[0] === 'string' ? null : `${what} must be a string`;
  const functions: Record<string, ExprFunction<EvalContext>> = {
    holds: {
      minArgs: 1,
      maxArgs: 1,
      call: (scope, product) => typeof product === 'string' && scope.holdings.has(product),
      checkArgs: constantString('the product id'),
    },
    affinity: {
      minArgs: 1,
      maxArgs: 1,
      call: (scope, product) => (typeof product === 'string' ? (scope.affinities.get(product) ?? 0) : 0),
      checkArgs: constantString('the product id'),
    },
    // Mined product associations (associations.ndjson): the best confidence of a rule for the
    // product whose antecedent the customer holds; 0 when none fires.
    association: {
      minArgs: 1,
      maxArgs: 1,
      call: (scope, product) =>
        typeof product === 'string' ? associations.confidence(product, scope.holdings) : 0,
      checkArgs: constantString('the product id'),
    },
    daysSince: {
      minArgs: 1,
      maxArgs: 1,
      call: (scope, date) => {
        const ms = typeof date === 'number' ? date : typeof date === 'string' ? profileDate(date) : null;
        return ms === null ? null : Math.floor((scope.now - ms) / DAY_MS);
      },
    },
    inSegment: {
      minArgs: 1,
      maxArgs: 1,
      call: (scope, id) => {
        const segment = typeof id === 'string' ? segmentById.get(id) : undefined;
        return segment !== undefined && scope.inSegment(segment);
      },
      checkArgs: (args) => {
        const id = args[0];
        if (id === NOT_CONSTANT) return 'inSegment() takes a segment id written as a string literal';
        if (typeof id !== 'string' || !segmentById.has(id)) {
          return `unknown segment '${String(id)}' (known: ${[...segmentById.keys()].join(', ') || 'none'})`;
        }
        onSegmentReference(id);
        return null;
      },
    },
  };
  return {
    roots: { customer: (s) => s.customer, context: (s) => s.context },
    functions,
  };
}

/** Cycles in the segment reference graph, each as the ids along it. */
function findCycles(deps: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, trail: string[]) => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') {
      cycles.push([...trail.slice(trail.indexOf(id)), id]);
      return;
    }
    state.set(id, 'visiting');
    for (const next of deps.get(id) ?? []) visit(next, [...trail, id]);
    state.set(id, 'done');
  };
  for (const id of deps.keys()) visit(id, []);
  return cycles;
}
