import type { DecisionResult } from './decision-result.js';

/** How a target list is written for the sending system. */
export const SELECTION_FORMATS = ['csv', 'ndjson'] as const;
export type SelectionFormat = (typeof SELECTION_FORMATS)[number];

/**
 * One line of a target list: a customer, the decision that chose them (the id feedback names to
 * close the loop), the offer and its place in the contact. `control` rows are the campaign's
 * control group: decided, logged as held out, and not to be sent. No personal data but the id: the
 * sending system joins its own addresses.
 */
export interface SelectionRow {
  readonly customerId: string;
  readonly decisionId: string;
  readonly campaignId: string;
  readonly offerId: string;
  readonly rank: number;
  readonly group: 'treated' | 'control';
  readonly score: number;
  readonly propensity: number;
  /** propensity × the offer's value. */
  readonly expectedValue: number;
}

const COLUMNS: readonly (keyof SelectionRow)[] = [
  'customerId',
  'decisionId',
  'campaignId',
  'offerId',
  'rank',
  'group',
  'score',
  'propensity',
  'expectedValue',
];

/** The rows of one decision: the offers shown (treated), else the offers held out (control). */
export function rowsOf(result: DecisionResult): SelectionRow[] {
  const { decisionId, customerId, engine } = result;
  if (engine.offers.length > 0)
    return engine.offers.map((c) => ({
      customerId,
      decisionId,
      campaignId: c.offer.campaign.id,
      offerId: c.offer.id,
      rank: c.rank,
      group: 'treated',
      score: c.score,
      propensity: c.propensity,
      expectedValue: c.propensity * c.offer.value,
    }));
  return engine.heldOut.map((h, i) => ({
    customerId,
    decisionId,
    campaignId: h.offer.campaign.id,
    offerId: h.offer.id,
    rank: i + 1,
    group: 'control',
    score: h.score,
    propensity: h.propensity,
    expectedValue: h.propensity * h.offer.value,
  }));
}

/** The first line of a file in the format: CSV's header, nothing for NDJSON. */
export function headerOf(format: SelectionFormat): string {
  return format === 'csv' ? `${COLUMNS.join(',')}\n` : '';
}

/** One row as a line of the format, newline included. */
export function lineOf(row: SelectionRow, format: SelectionFormat): string {
  if (format === 'ndjson') return `${JSON.stringify(row)}\n`;
  let line = '';
  for (let i = 0; i < COLUMNS.length; i++) {
    const value = row[COLUMNS[i]!];
    line += (i === 0 ? '' : ',') + (typeof value === 'string' ? csvField(value) : String(value));
  }
  return `${line}\n`;
}

/** A CSV field, quoted only when it must be (RFC 4180). */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The customer a line of the list names (the first CSV field, or NDJSON's customerId). */
export function customerOfLine(line: string, format: SelectionFormat): string {
  if (format === 'ndjson') return (JSON.parse(line) as SelectionRow).customerId;
  if (!line.startsWith('"')) {
    const comma = line.indexOf(',');
    return comma < 0 ? line : line.slice(0, comma);
  }
  let id = '';
  for (let i = 1; i < line.length; i++) {
    if (line[i] !== '"') id += line[i];
    else if (line[i + 1] === '"') id += line[++i];
    else break;
  }
  return id;
}

/** The media type a list is served as. */
export function mediaTypeOf(format: SelectionFormat): string {
  return format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson';
}
