// Patch sources of zero and mean ablation. In the patching formula (docs/design.md section 2)
// input_r = sum_s cur_s + sum_s M[s, r] (src_s - cur_s), an ablation is just another src: 0 for
// every sender (zero), or the mean of the sender's output at that position over a reference set of
// prompts (mean). Such a source is no forward pass of any prompt, so it is only ever a patch source
// (noising), never a base run.
import { readFileSync } from 'node:fs';
import { UserError } from '../core/errors.js';
import type { ComponentGraph } from '../graph/component-graph.js';
import type { SenderCache } from '../runtime/cache.js';
import type { PatchableModel } from '../runtime/patchable-model.js';
import type { Tokenizer } from '../tokenizer/types.js';

/** Per-position mean of every sender's output over some prompts: [S, T, d] for positions 0..T-1. */
export interface SenderMeans {
  readonly seqLen: number;
  readonly dModel: number;
  readonly nSenders: number;
  readonly values: Float32Array;
}

/**
 * The mean of every sender's output at each position over `prompts` (token ids; any lengths): the
 * mean at position t is over the prompts longer than t (a causal model's output at t depends on
 * tokens up to t only). Prompts run in batches of one length, at most `batchSize` at a time.
 */
export async function meanSenderOutputs(model: PatchableModel, prompts: readonly (readonly number[])[], batchSize = 32): Promise<SenderMeans> {
  if (prompts.length === 0) throw new Error('mean ablation needs at least one reference prompt');
  const d = model.config.dModel;
  const S = model.graph.nSenders;
  const T = Math.max(...prompts.map((p) => p.length));
  const sums = new Float64Array(S * T * d);
  const counts = new Float64Array(T);
  const byLength = new Map<number, (readonly number[])[]>();
  for (const p of prompts) byLength.set(p.length, [...(byLength.get(p.length) ?? []), p]);
  for (const [len, group] of byLength) {
    for (let i = 0; i < group.length; i += batchSize) {
      const batch = group.slice(i, i + batchSize);
      const { cache } = await model.run({ tokens: batch.map((p) => [...p]) });
      const X = batch.length * len * d;
      for (let s = 0; s < S; s++) {
        for (let b = 0; b < batch.length; b++) {
          for (let t = 0; t < len; t++) {
            const from = s * X + (b * len + t) * d;
            const to = (s * T + t) * d;
            for (let j = 0; j < d; j++) sums[to + j]! += cache.senders[from + j]!;
          }
        }
      }
      for (let t = 0; t < len; t++) counts[t]! += batch.length;
    }
  }
  const values = new Float32Array(S * T * d);
  for (let s = 0; s < S; s++) {
    for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) values[(s * T + t) * d + j] = sums[(s * T + t) * d + j]! / counts[t]!;
  }
  return { seqLen: T, dModel: d, nSenders: S, values };
}

/**
 * The patch source of a group: every sender 0 (means undefined: zero ablation) or its reference
 * mean at each position, the same for every row; shaped like `base` (the group's clean run). Its
 * residual stream entering layer l is what a run with these sender outputs would carry: the base
 * run's plus the source-minus-base difference of every sender before l (the runtime may take a
 * patch term from the kept edges' side, as the source's stream minus the run's).
 */
export function ablationSource(graph: ComponentGraph, base: SenderCache, means?: SenderMeans): SenderCache {
  const { batch, seqLen, dModel } = base;
  const X = batch * seqLen * dModel;
  const S = graph.nSenders;
  const senders = new Float32Array(S * X);
  if (means) {
    if (seqLen > means.seqLen) throw new Error(`mean ablation: the reference prompts have at most ${means.seqLen} tokens, a batch needs ${seqLen}`);
    for (let s = 0; s < S; s++) {
      const row = means.values.subarray(s * means.seqLen * dModel, (s * means.seqLen + seqLen) * dModel);
      for (let b = 0; b < batch; b++) senders.set(row, s * X + b * seqLen * dModel);
    }
  }
  // Running sum (float64) of src - base over the senders before each layer start.
  const shift = new Float64Array(X);
  let done = 0;
  const residStart = base.residStart.map((r, L) => {
    for (const end = graph.layerSenderStartOrEnd(L); done < end; done++) {
      for (let i = 0; i < X; i++) shift[i]! += senders[done * X + i]! - base.senders[done * X + i]!;
    }
    return Float32Array.from(r, (x, i) => x + shift[i]!);
  });
  return { batch, seqLen, dModel, senders, residStart };
}

/**
 * Mean ablation's reference prompts from a file: a JSON list of token-id lists, or text with one
 * prompt a line (blank lines skipped) encoded by the model's tokenizer (with its BOS, as the tasks
 * do). Every problem is a UserError naming the file and the line or list index.
 */
export function readReferencePrompts(file: string, tokenizer: Tokenizer | undefined, vocabSize: number): number[][] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read the reference prompts: ${(e as Error).message}`);
  }
  const prompts: number[][] = [];
  if (file.endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${file}: not JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(value)) throw new UserError(`${file}: expected a list of token-id lists`);
    value.forEach((p, i) => {
      if (!Array.isArray(p) || p.length === 0 || !p.every((t) => Number.isInteger(t) && t >= 0 && t < vocabSize)) {
        throw new UserError(`${file}: [${i}]: expected a non-empty list of token ids in [0, ${vocabSize})`);
      }
      prompts.push(p as number[]);
    });
  } else {
    if (tokenizer === undefined) throw new UserError(`${file}: text reference prompts need the model's tokenizer, and this model has none; give a .json list of token-id lists`);
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const ids = tokenizer.encode(line);
      if (ids.length === 0) throw new UserError(`${file}:${i + 1}: the line encodes to no tokens`);
      prompts.push(tokenizer.bosId === undefined ? ids : [tokenizer.bosId, ...ids]);
    });
  }
  if (prompts.length === 0) throw new UserError(`${file}: no reference prompts`);
  return prompts;
}
