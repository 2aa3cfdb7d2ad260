// vitest global setup: builds dist/ before any test runs, so the tests that spawn bin/patchwise.js
// (which runs dist/) never run a stale build. Incremental: a build with nothing changed takes seconds.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export default function buildDist(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`building dist/ failed (tsc -p tsconfig.build.json):\n${out.stdout?.toString() ?? ''}${out.stderr?.toString() ?? ''}`);
  }
}
