import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rulesetSchema } from './schema.js';

describe('published rules schema', () => {
  it('rules/schema/ruleset.schema.json is the schema the loader uses (run `npm run schema` after a change)', () => {
    const published = JSON.parse(
      readFileSync(new URL('../../rules/schema/ruleset.schema.json', import.meta.url), 'utf8'),
    );
    expect(published).toEqual(rulesetSchema);
  });
});
