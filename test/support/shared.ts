// Tests that need the real weights in ../shared/models. On a user's fresh clone they skip with a
// visible reason; .ci/run sets PATCHWISE_REQUIRE_SHARED=1 so that in CI they can never skip silently.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedModelsDir = join(repoRoot, '..', 'shared', 'models');
export const stories260kPath = join(sharedModelsDir, 'stories260K.gguf');
export const stories260kGoldenPath = join(sharedModelsDir, 'stories260K.golden.json');

const available = existsSync(stories260kPath) && existsSync(stories260kGoldenPath);

if (!available && process.env.PATCHWISE_REQUIRE_SHARED === '1') {
  throw new Error(`PATCHWISE_REQUIRE_SHARED=1 but ${stories260kPath} is missing: the shared models must be beside the clone in CI`);
}

/** `describe` for suites that need ../shared/models; skipped, with the reason in its title, when absent. */
export const describeShared: typeof describe = available
  ? describe
  : (((name: string, ...rest: unknown[]) => (describe.skip as (n: string, ...r: unknown[]) => void)(`${name} [skipped: ${stories260kPath} not found]`, ...rest)) as unknown as typeof describe);

export const sharedAvailable = available;
