import { describe, expect, it } from 'vitest';
import type { SelectionRow } from './selection-rows.js';
import { customerOfLine, headerOf, lineOf } from './selection-rows.js';

const row: SelectionRow = {
  customerId: 'cust-1',
  decisionId: '0b6c8f8e-1111-4222-8333-444455556666',
  campaignId: 'mailing',
  offerId: 'a',
  rank: 1,
  group: 'treated',
  score: 4.5,
  propensity: 0.1,
  expectedValue: 5,
};

describe('a target list line', () => {
  it('is a CSV row under its header, or an NDJSON object', () => {
    expect(headerOf('csv')).toBe(
      'customerId,decisionId,campaignId,offerId,rank,group,score,propensity,expectedValue\n',
    );
    expect(lineOf(row, 'csv')).toBe(
      'cust-1,0b6c8f8e-1111-4222-8333-444455556666,mailing,a,1,treated,4.5,0.1,5\n',
    );
    expect(headerOf('ndjson')).toBe('');
    expect(JSON.parse(lineOf(row, 'ndjson'))).toEqual(row);
  });

  it('quotes an id with a comma, a quote or a line break', () => {
    const odd = { ...row, customerId: 'a,"b"\nc' };
    expect(lineOf(odd, 'csv').startsWith('"a,""b""\nc",')).toBe(true);
  });

  it('names its customer back, quoted or not', () => {
    for (const customerId of ['cust-1', 'a,"b"', '"quoted"'])
      for (const format of ['csv', 'ndjson'] as const)
        expect(customerOfLine(lineOf({ ...row, customerId }, format).trimEnd(), format)).toBe(customerId);
  });
});
