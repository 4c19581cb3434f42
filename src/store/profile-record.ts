import { Ajv } from 'ajv';
import type { ProfileRecord } from '../domain/profile.js';
import { profileRecordSchema } from '../domain/profile-schema.js';

// What every profiles format (NDJSON and CSV) shares: the schema check of a record, and how a
// record or the reason it is not one is reported with its line.

const validateRecord = new Ajv({
  allErrors: false,
  strict: true,
  allowUnionTypes: true,
}).compile<ProfileRecord>(profileRecordSchema);

/** One record of an input file with the line it starts on: a profile, or why it is not one. */
export type ParsedLine =
  | { readonly line: number; readonly record: ProfileRecord }
  | { readonly line: number; readonly error: string };

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
