import { writeFileSync } from 'node:fs';
import { rulesetSchema } from './schema.js';

// `npm run schema`: publishes the rules-file schema for editors (yaml-language-server, IDEs).
writeFileSync(
  new URL('../../../rules/schema/ruleset.schema.json', import.meta.url),
  `${JSON.stringify(rulesetSchema, null, 2)}\n`,
);
