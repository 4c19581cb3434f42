import { describe, expect, it } from 'vitest';
import type { DecisionResult } from '../service/decision-service.js';
import { Metrics } from './metrics.js';

/** The parts of a decision the observer reads. */
function decision(
  channel: string,
  shown: string[],
  heldOut: string[] = [],
  explored = false,
): DecisionResult {
  const offer = (campaign: string) => ({ offer: { campaign: { id: campaign } } });
  return {
    channel,
    engine: { offers: shown.map(offer), heldOut: heldOut.map(offer), explored },
  } as unknown as DecisionResult;
}

const line = (text: string, start: string) => text.split('\n').find((l) => l.startsWith(start));

describe('Metrics', () => {
  it('counts decisions by channel, offers shown and held out by campaign, and explorations', async () => {
    const m = new Metrics();
    m.decisions.decided(decision('web', ['cards', 'premium']));
    m.decisions.decided(decision('web', ['cards'], ['holdout-half'], true));
    m.decisions.decided(decision('call_center', []));
    const { body } = await m.scrape();
    expect(line(body, 'offerloop_decisions_total{channel="web"}')).toBe(
      'offerloop_decisions_total{channel="web"} 2',
    );
    expect(line(body, 'offerloop_decisions_total{channel="call_center"}')).toMatch(/ 1$/);
    expect(line(body, 'offerloop_offers_shown_total{campaign="cards"}')).toMatch(/ 2$/);
    expect(line(body, 'offerloop_offers_shown_total{campaign="premium"}')).toMatch(/ 1$/);
    expect(line(body, 'offerloop_offers_held_out_total{campaign="holdout-half"}')).toMatch(/ 1$/);
    expect(line(body, 'offerloop_decisions_explored_total ')).toBe('offerloop_decisions_explored_total 1');
  });

  it('times Redis calls and counts failures by kind; a refused call is not timed', async () => {
    const m = new Metrics();
    const main = m.redisCalls('main');
    const started = performance.now();
    main.settled(started, null);
    main.settled(started, 'timeout');
    main.settled(started, 'reply');
    main.refused();
    const { body } = await m.scrape();
    expect(line(body, 'offerloop_redis_command_duration_seconds_count{connection="main"}')).toMatch(/ 3$/);
    for (const kind of ['timeout', 'reply', 'unavailable']) {
      expect(line(body, `offerloop_redis_errors_total{connection="main",kind="${kind}"}`)).toMatch(/ 1$/);
    }
  });

  it('labels a request by its route pattern, and one that matched no route as unmatched', async () => {
    const m = new Metrics();
    m.httpResponse('GET', '/v1/customers/:id', 200, performance.now());
    m.httpResponse('GET', undefined, 404, performance.now());
    const { body, contentType } = await m.scrape();
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(body).toContain(
      'offerloop_http_request_duration_seconds_count{method="GET",route="/v1/customers/:id",status_code="200"} 1',
    );
    expect(body).toContain(
      'offerloop_http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"} 1',
    );
  });

  it('keeps each server its own metrics, with the process metrics in every one', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.decisions.decided(decision('web', []));
    const [ta, tb] = [(await a.scrape()).body, (await b.scrape()).body];
    expect(ta).toContain('offerloop_decisions_total{channel="web"} 1');
    expect(tb).not.toContain('offerloop_decisions_total{channel="web"}');
    for (const text of [ta, tb]) {
      expect(text).toContain('# TYPE process_resident_memory_bytes gauge');
      expect(text).toContain('# TYPE offerloop_event_loop_delay_seconds summary');
    }
  });

  it('reads watched sources at scrape time; a counter kept elsewhere is copied, not added up', async () => {
    const m = new Metrics();
    let hits = 5;
    m.watchProfileCache(() => ({ entries: 2, bytes: 300, hits, misses: 1 }));
    m.watchLearning(() => ({ failures: 0, modelAgeSeconds: null }));
    expect((await m.scrape()).body).toContain('offerloop_profile_cache_hits_total 5');
    hits = 7;
    const { body } = await m.scrape();
    expect(body).toContain('offerloop_profile_cache_hits_total 7');
    expect(body).toContain('offerloop_profile_cache_bytes 300');
    // No model yet: NaN (prom-client writes Nan; Prometheus reads NaN in any case).
    expect(line(body, 'offerloop_learning_model_age_seconds ')).toMatch(/ nan$/i);
  });
});
