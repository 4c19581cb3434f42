import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, isNode, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { RulesetError, type RulesProblem } from '../errors.js';
import { ASSOCIATIONS_FILE, Associations, parseAssociations } from './associations.js';
import { compileRuleset, type ParsedRulesFile } from './compile.js';
import { rulesetSchema } from './schema.js';
import type { RulesetSnapshot } from './snapshot.js';
import type { RulesFile } from './source.js';

const validateFile = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile<RulesFile>(
  rulesetSchema,
);

/** Largest rules file we read; a bigger one is a mistake (or an attack), not a ruleset. */
const MAX_FILE_BYTES = 2 * 1024 * 1024;
/** Mined association rules are data, not hand-written rules: they may be much longer. */
const MAX_ASSOCIATIONS_BYTES = 64 * 1024 * 1024;

export interface RulesSource {
  readonly name: string;
  readonly text: string;
}

/** Reads every `*.yaml` / `*.yml` file directly inside `dir`, in name order, and `associations.ndjson`. */
export async function readRulesDir(dir: string): Promise<RulesSource[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && (/\.ya?ml$/.test(e.name) || e.name === ASSOCIATIONS_FILE))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new RulesetError([
      problemAt(dir, 0, 0, '', `cannot read the rules directory: ${(err as Error).message}`),
    ]);
  }
  if (!names.some((n) => n !== ASSOCIATIONS_FILE))
    throw new RulesetError([problemAt(dir, 0, 0, '', 'no *.yaml files in the rules directory')]);
  return Promise.all(
    names.map(async (name) => {
      const text = await readFile(path.join(dir, name), 'utf8');
      const max = name === ASSOCIATIONS_FILE ? MAX_ASSOCIATIONS_BYTES : MAX_FILE_BYTES;
      if (Buffer.byteLength(text) > max) {
        throw new RulesetError([problemAt(name, 1, 1, '', `file is larger than ${max} bytes`)]);
      }
      return { name, text };
    }),
  );
}

/** Loads a rules directory into a compiled snapshot, or throws RulesetError with file, line, reason. */
export async function loadRuleset(dir: string, now = Date.now()): Promise<RulesetSnapshot> {
  return buildRuleset(await readRulesDir(dir), now);
}

/** Parses, validates and compiles rules sources. Pure apart from the clock value passed in. */
export function buildRuleset(sources: readonly RulesSource[], now: number): RulesetSnapshot {
  const problems: RulesProblem[] = [];
  const parsed: ParsedRulesFile[] = [];
  let associations = Associations.NONE;
  for (const source of sources) {
    if (source.name === ASSOCIATIONS_FILE) {
      associations = parseAssociations(source.name, source.text, problems);
      continue;
    }
    const file = parseRulesFile(source, problems);
    if (file) parsed.push(file);
  }
  if (problems.length > 0) throw new RulesetError(problems);
  return compileRuleset(parsed, { version: versionOf(sources), loadedAt: now }, associations);
}

function versionOf(sources: readonly RulesSource[]): string {
  const hash = createHash('sha256');
  for (const s of sources) hash.update(s.name).update('\0').update(s.text).update('\0');
  return hash.digest('hex').slice(0, 12);
}

function parseRulesFile(source: RulesSource, problems: RulesProblem[]): ParsedRulesFile | null {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source.text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
      problems.push(problemAt(source.name, pos.line, pos.col, '', `YAML: ${e.message.split('\n')[0]}`));
    }
    return null;
  }
  const locate = (at: readonly (string | number)[]) => {
    const offset = offsetOf(doc.contents, at);
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  // Aliases are capped: a YAML "billion laughs" must not take the server down.
  const content: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  if (!validateFile(content)) {
    for (const err of validateFile.errors ?? []) {
      const at = pointerToPath(err.instancePath);
      const { line, column } = locate(at);
      problems.push(problemAt(source.name, line, column, err.instancePath, schemaMessage(err)));
    }
    return null;
  }
  return { name: source.name, content, locate };
}

/** The source offset of the value at `at`, or of its nearest ancestor that exists. */
function offsetOf(root: unknown, at: readonly (string | number)[]): number {
  let node: unknown = root;
  let offset = isNode(root) ? (root.range?.[0] ?? 0) : 0;
  for (const key of at) {
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key),
      );
      next = pair?.value ?? pair?.key;
    } else if (isSeq(node)) {
      next = node.items[Number(key)];
    }
    if (!isNode(next)) break;
    node = next;
    offset = (next as Node).range?.[0] ?? offset;
  }
  return offset;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function schemaMessage(err: ErrorObject): string {
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperty':
    case 'additionalProperties':
      return `unknown property '${String(params.additionalProperty)}'`;
    case 'required':
      return `missing required property '${String(params.missingProperty)}'`;
    case 'enum':
      return `${err.message}: ${(params.allowedValues as unknown[]).join(', ')}`;
    default:
      return err.message ?? 'invalid value';
  }
}

function problemAt(file: string, line: number, column: number, at: string, message: string): RulesProblem {
  return { file, line, column, path: at, message };
}
