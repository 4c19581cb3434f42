import { describe, expect, it } from 'vitest';
import { FIXTURE_RULES, testConfig, testLog } from '../../test/helpers.js';
import { RulesetError } from '../errors.js';
import { FeedbackStats } from '../feedback/feedback-effects.js';
import { MemoryStatsReader } from '../feedback/stats-reader.js';
import { loadRuleset, readRulesDir } from '../ruleset/load.js';
import { MemoryCandidateStore } from '../store/candidate-store.js';
import { CandidateService, MAX_CANDIDATES } from './candidate-service.js';
import { LearningService } from './learning-service.js';

const T0 = Date.parse('2026-11-22T12:00:00Z');
const files = await readRulesDir(FIXTURE_RULES);
const service = () => new CandidateService({ store: new MemoryCandidateStore(), clock: () => T0 });

describe('CandidateService', () => {
  it('compiles an upload, keeps it by name and answers its snapshot; an unknown name is a 404', async () => {
    const candidates = service();
    const summary = await candidates.upload('draft', files, 'adm…');
    expect(summary).toMatchObject({ name: 'draft', files: files.map((f) => f.name), by: 'adm…' });
    expect((await candidates.snapshot('draft')).version).toBe(summary.version);
    await expect(candidates.snapshot('other')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('refuses a ruleset that does not compile, keeping nothing of it', async () => {
    const candidates = service();
    const broken = [...files, { name: 'zz.yaml', text: 'offers: [{ id: x }]' }];
    await expect(candidates.upload('draft', broken, 'adm…')).rejects.toBeInstanceOf(RulesetError);
    expect(await candidates.list()).toEqual([]);
  });

  it(`keeps at most ${MAX_CANDIDATES}, and replacing one of them is no new one`, async () => {
    const candidates = service();
    for (let i = 0; i < MAX_CANDIDATES; i++) await candidates.upload(`c${i}`, files, 'adm…');
    await expect(candidates.upload('one-more', files, 'adm…')).rejects.toMatchObject({ statusCode: 400 });
    await candidates.upload('c0', files, 'adm…');
    await candidates.delete('c1');
    await candidates.upload('one-more', files, 'adm…');
    expect(await candidates.list()).toHaveLength(MAX_CANDIDATES);
  });
});

describe('LearningService and a snapshot not in force', () => {
  it('builds its model aside: the live model is not rebuilt for a candidate', async () => {
    const live = await loadRuleset(FIXTURE_RULES, T0);
    const candidate = await loadRuleset(FIXTURE_RULES, T0 + 1);
    const learning = new LearningService({
      rules: { current: live },
      stats: new MemoryStatsReader(new FeedbackStats()),
      config: testConfig().learning,
      log: testLog,
      clock: () => T0,
    });
    const liveModel = learning.model();
    expect(learning.model(candidate)?.snapshot).toBe(candidate);
    expect(learning.model()).toBe(liveModel);
    expect(learning.model(candidate)).toBe(learning.model(candidate));
  });
});
