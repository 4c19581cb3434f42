import { type CustomerProfile, profileFromRecord } from '../domain/profile.js';
import { profileLines } from './profile-lines.js';

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
