import { describe, expect, it } from 'vitest';
import type { Banner } from '../../service/banner-service.js';
import { bannerJson } from './banners.js';

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
