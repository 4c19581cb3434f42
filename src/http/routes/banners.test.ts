import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { ApiKeyConfig } from '../../config.js';
import type { RulesetSnapshot } from '../../ruleset/snapshot.js';
import { type Banner, BannerService } from '../../service/banner-service.js';
import type { DecisionResult } from '../../service/decision-service.js';
import type { FeedbackService } from '../../service/feedback-service.js';
import { ApiKeyAuth } from '../auth.js';
import { installErrorHandling } from '../error-handler.js';
import { RateLimiter } from '../rate-limiter.js';
import { validatorCompiler } from '../validation.js';
import { bannerJson, bannerRoutes } from './banners.js';

const creative = Object.freeze({
  headline: 'Your card — upgraded to "Gold"',
  body: 'Line one\nline two <b>not html</b>',
  image: '/static/banners/gold.png',
  link: 'https://bank.example/gold?src=a&b=c',
  cta: 'Upgrade ✓',
});

describe('bannerJson', () => {
  it('is the JSON of the banner, escapes included, for chosen and default banners', () => {
    const banners: Banner[] = [
      {
        placement: 'home-hero',
        customerId: 'cust-"ü"\\',
        decisionId: '0f8e0d5e-3c2a-4a7e-9a51-7d1cfb1f2d11',
        offerId: 'card-gold',
        campaignId: 'cards',
        default: false,
        creative,
      },
      {
        placement: 'sidebar',
        customerId: null,
        decisionId: null,
        offerId: null,
        campaignId: null,
        default: true,
        creative,
      },
    ];
    for (const banner of banners) {
      const json = bannerJson(banner);
      expect(JSON.parse(json)).toEqual(banner);
      // Twice: the second answer comes from the cached creative.
      expect(bannerJson(banner)).toBe(json);
    }
  });

  it('keeps apart one creative shown for two offers, and as a default', () => {
    const shared = Object.freeze({ ...creative });
    // An id sliced from text with a non-ASCII character in it is a two-byte string in V8.
    const twoByte = 'offer-b ✓'.slice(0, 7);
    const banners: Banner[] = [
      { ...base, offerId: 'offer-a', campaignId: 'camp-a', creative: shared },
      { ...base, offerId: twoByte, campaignId: 'camp-b', creative: shared },
      { ...base, decisionId: null, offerId: null, campaignId: null, default: true, creative: shared },
      { ...base, offerId: 'offer-a', campaignId: 'camp-a', creative: shared },
    ];
    for (const banner of banners) expect(JSON.parse(bannerJson(banner))).toEqual(banner);
  });
});

const base: Banner = {
  placement: 'home-hero',
  customerId: 'cust-1',
  decisionId: '0f8e0d5e-3c2a-4a7e-9a51-7d1cfb1f2d11',
  offerId: null,
  campaignId: null,
  default: false,
  creative,
};

describe('GET /v1/banners/:placement, what the handler answers', () => {
  const key: ApiKeyConfig = {
    key: 'pk',
    name: 'pk',
    scopes: new Set(['banner']),
    origins: new Set(['https://shop.example']),
    rate: 1000,
    ipRate: 1000,
  };
  /** The route over a BannerService whose decisions answer `decide` and whose only default is home-hero's. */
  async function app(decide: () => Promise<DecisionResult | null>) {
    const rules = {
      current: { defaultBanners: new Map([['home-hero', creative]]) } as unknown as RulesetSnapshot,
    };
    const banners = new BannerService({ rules, decisions: { decideInTime: decide } });
    const server = Fastify();
    server.setValidatorCompiler(validatorCompiler());
    installErrorHandling(server);
    bannerRoutes(server, {
      auth: new ApiKeyAuth([key], new RateLimiter()),
      banners,
      feedback: {} as FeedbackService,
      keys: [key],
    });
    await server.ready();
    return server;
  }
  const get = (server: Awaited<ReturnType<typeof app>>, url: string) =>
    server.inject({ method: 'GET', url, headers: { origin: 'https://shop.example' } });

  it('answers the default, past the deadline too, and 404 or a masked 500 with the CORS headers', async () => {
    const timedOut = await app(() => Promise.resolve(null));
    const anonymous = await get(timedOut, '/v1/banners/home-hero?key=pk');
    expect(anonymous.statusCode).toBe(200);
    expect(anonymous.headers['cache-control']).toBe('private, max-age=60');
    expect(anonymous.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(anonymous.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(anonymous.json()).toEqual({ ...base, customerId: null, decisionId: null, default: true });
    const late = await get(timedOut, '/v1/banners/home-hero?key=pk&customerId=cust-1');
    expect(late.headers['cache-control']).toBe('private, no-store');
    expect(late.json()).toEqual({ ...base, decisionId: null, default: true });

    const missing = await get(timedOut, '/v1/banners/sidebar?key=pk');
    expect(missing.statusCode).toBe(404);
    expect(missing.headers.vary).toBe('Origin');
    expect(missing.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(missing.json().error.message).toMatch(/no default banner for placement 'sidebar'/);

    const failing = await app(() => Promise.reject(new Error('store exploded')));
    const failed = await get(failing, '/v1/banners/home-hero?key=pk&customerId=cust-1');
    expect(failed.statusCode).toBe(500);
    expect(failed.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(failed.body).not.toMatch(/exploded/);
    await Promise.all([timedOut.close(), failing.close()]);
  });
});
