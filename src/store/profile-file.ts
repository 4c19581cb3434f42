import { Ajv } from 'ajv';
import { type CustomerProfile, type ProfileRecord, profileFromRecord } from '../domain/profile.js';
import { profileRecordSchema } from '../domain/profile-schema.js';
import { profileLines } from './profile-lines.js';

const validateRecord = new Ajv({
  allErrors: false,
  strict: true,
  allowUnionTypes: true,
}).compile<ProfileRecord>(profileRecordSchema);

export interface BadLine {
  readonly line: number;
  readonly reason: string;
}

export interface ProfilesFileResult {
  readonly profiles: CustomerProfile[];
  readonly lines: number;
  readonly bad: readonly BadLine[];
  readonly badCount: number;
}

/** Checks a value against the profile record schema (shared by the NDJSON and CSV formats). */
export function validateProfileRecord(value: unknown): ProfileRecord | string {
  if (validateRecord(value)) return value;
  const e = validateRecord.errors?.[0];
  return `${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}`;
}

/** Parses one NDJSON line into a record, or says why not. */
export function parseRecordLine(text: string): ProfileRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  return validateProfileRecord(value);
}

/**
 * Reads a whole profiles file (NDJSON, or CSV by its extension) for the embedded store. Bad lines
 * are counted and the first ones kept with their line numbers; more than `maxBadShare` of bad
 * lines aborts, since the file is then the wrong file.
 */
export async function readProfilesFile(file: string, maxBadShare = 0.01): Promise<ProfilesFileResult> {
  const profiles: CustomerProfile[] = [];
  const bad: BadLine[] = [];
  let badCount = 0;
  let lines = 0;
  for await (const parsed of profileLines(file)) {
    lines = parsed.line;
    if ('error' in parsed) {
      badCount++;
      if (bad.length < 20) bad.push({ line: parsed.line, reason: parsed.error });
    } else {
      profiles.push(profileFromRecord(parsed.record));
    }
  }
  if (badCount > Math.max(10, lines * maxBadShare)) {
    const first = bad.map((b) => `line ${b.line}: ${b.reason}`).join('; ');
    throw new Error(`${file}: ${badCount} of ${lines} lines are not valid profiles (${first})`);
  }
  return { profiles, lines, bad, badCount };
}
