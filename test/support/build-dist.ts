import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Vitest global setup of the integration tests: the CLI, worker and docker suites run the compiled
// `dist/`, so it is built from the current sources first (incremental: a second run costs little).
// Type errors are `npm run typecheck`'s to fail on (CI runs it first); tsc still emits, so the tests
// run the current code and say that it does not type-check. No emitted CLI fails the run.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function setup(): void {
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    const out = (err as { stdout?: Buffer }).stdout?.toString() ?? String(err);
    if (!existsSync(path.join(root, 'dist/src/cli/main.js'))) {
      throw new Error(`integration tests need dist/, and the build emitted none:\n${out}`);
    }
    process.stderr.write(`\nwarning: dist/ was built from sources with type errors:\n${out}\n`);
  }
}
