import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Vitest global setup of the integration tests: the CLI, worker and docker suites run the compiled
// `dist/`, so it is built from the current sources first (incremental, so a second run costs little).
// A failed build fails the run with the compiler's message rather than testing stale code.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function setup(): void {
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    const out = (err as { stdout?: Buffer }).stdout?.toString() ?? String(err);
    throw new Error(`integration tests need dist/, and the build failed:\n${out}`);
  }
}
