// Hooks for tests and benchmarks that production code has no use for: runs that take the slow but
// equivalent path, to check that the fast path gives the same result and to time the slow one.
import type { RunInput } from './inputs.js';
import { type PatchOptions, type PatchedResult, PatchableModel } from './patchable-model.js';

export class InstrumentedPatchableModel extends PatchableModel {
  /** runPatched with every recomputed layer in its per-receiver form, even layers no mask reaches. */
  runPatchedAllPerReceiver(input: RunInput, opts: PatchOptions): Promise<PatchedResult> {
    return this.runPatchedWith(input, opts, true);
  }
}
