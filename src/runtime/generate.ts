// Greedy decoding with the plain one-graph forward (no KV cache: prompts here are short and the
// point is checking the model, not serving it).
import type { PatchableModel } from './patchable-model.js';

export interface GenerateOptions {
  readonly tokens: number;
  /** Stop early at this token (usually EOS). */
  readonly stopAt?: number;
}

export async function greedyGenerate(model: PatchableModel, prompt: readonly number[], opts: GenerateOptions): Promise<number[]> {
  if (prompt.length === 0) throw new Error('greedy generation needs at least one prompt token (use BOS for an empty prompt)');
  const V = model.config.vocabSize;
  const ids = [...prompt];
  for (let i = 0; i < opts.tokens; i++) {
    if (ids.length >= model.config.maxPositions) break;
    const logits = await model.plainForward({ tokens: [ids] }, 'last');
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[v]! > logits[best]!) best = v;
    ids.push(best);
    if (best === opts.stopAt) break;
  }
  return ids;
}

/** The k largest logits of one row as [token, logit] pairs, largest first. */
export function topK(row: ArrayLike<number>, k: number): [number, number][] {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  idx.sort((a, b) => row[b]! - row[a]!);
  return idx.slice(0, k).map((i) => [i, row[i]!]);
}
