import { describe, expect, it } from 'vitest';
import { Rng } from '../domain/random.js';
import { receiptJson } from '../http/routes/feedback.js';
import { parseDate } from '../ruleset/time.js';
import { type FeedbackReceipt, parseTimestamp } from './feedback-service.js';

describe('parseTimestamp', () => {
  it('reads every date-time as parseDate does, valid or not', () => {
    const rng = new Rng('42', 'timestamps');
    const pad = (n: number, width: number) => String(n).padStart(width, '0');
    for (let i = 0; i < 20_000; i++) {
      const text = `${pad(rng.int(0, 9999), 4)}-${pad(rng.int(0, 13), 2)}-${pad(rng.int(0, 32), 2)}T${pad(rng.int(0, 25), 2)}:${pad(rng.int(0, 61), 2)}:${pad(rng.int(0, 61), 2)}.${pad(rng.int(0, 999), 3)}Z`;
      expect(parseTimestamp(text), text).toBe(parseDate(text));
    }
    for (const text of [
      '2026-11-22T12:00:05.000Z',
      '2024-02-29T23:59:59.999Z',
      '2026-02-29T00:00:00.000Z',
      '1900-02-29T00:00:00.000Z',
      '2000-02-29T00:00:00.000Z',
      '0099-01-01T00:00:00.000Z',
      '0000-02-29T00:00:00.000Z',
      '2026-11-22T12:00:05Z',
      '2026-11-22',
      '2026-11-22T12:00:05.1234Z',
      '2026-11-22T12:00:05.000+01:00',
      '2026-11-22T12:00:05.00aZ',
      '2026-11-22t12:00:05.000Z',
    ])
      expect(parseTimestamp(text), text).toBe(parseDate(text));
  });
});

describe('receiptJson', () => {
  it('writes what JSON.stringify writes of the receipt', () => {
    const receipts: FeedbackReceipt[] = [
      {
        accepted: 1,
        queued: 0,
        duplicates: 0,
        rejected: 0,
        results: [{ eventId: 'e1', status: 'accepted' }],
      },
      {
        accepted: 1,
        queued: 1,
        duplicates: 1,
        rejected: 1,
        results: [
          { eventId: 'e1', status: 'accepted' },
          { eventId: 'é "2" \\ \u2028', status: 'queued' },
          { eventId: 'e3', status: 'duplicate', reason: 'event e3 was recorded before' },
          { eventId: 'e4', status: 'conflict', reason: 'a "quoted" reason\n' },
        ],
      },
    ];
    for (const r of receipts) expect(receiptJson(r)).toBe(JSON.stringify(r));
  });
});
