// Patch sources of zero and mean ablation. In the patching formula (docs/design.md section 2)
// input_r = sum_s cur_s + sum_s M[s, r] (src_s - cur_s), an ablation is just another src: 0 for
// every sender (zero), or the mean of the sender's output at that position over a reference set of
// prompts (mean). Such a source is no forward pass of any prompt, so it is only ever a patch source
// (noising), never a base run.
import { readFileSync } from 'node:fs';
import { UserError } from '../core/errors.js';
import { type SenderCache, difference } from '../runtime/cache.js';
import type { PatchableModel } from '../runtime/patchable-model.js';
import type { Tokenizer } from '../tokenizer/types.js';

/**
 * Per-position mean of every sender's output over some prompts, for positions 0..T-1, in a cache's
 * compact form (cache.ts): input [T, d], per layer z [H, T, dh] (a head's output is linear in its z,
 * so the mean of z gives the mean output) and mlp [T, d].
 */
export interface SenderMeans {
  readonly seqLen: number;
  readonly input: Float32Array;
  readonly z: readonly Float32Array[];
  readonly mlp: readonly Float32Array[];
}

/**
 * The mean of every sender's output at each position over `prompts` (token ids; any lengths): the
 * mean at position t is over the prompts longer than t (a causal model's output at t depends on
 * tokens up to t only). Prompts run in batches of one length, at most `batchSize` at a time.
 */
export async function meanSenderOutputs(model: PatchableModel, prompts: readonly (readonly number[])[], batchSize = 32): Promise<SenderMeans> {
  if (prompts.length === 0) throw new Error('mean ablation needs at least one reference prompt');
  const { dModel: d, nHeads: H, dHead, nLayers } = model.config;
  const T = Math.max(...prompts.map((p) => p.length));
  const input = new Float64Array(T * d);
  const z = Array.from({ length: nLayers }, () => new Float64Array(H * T * dHead));
  const mlp = Array.from({ length: nLayers }, () => new Float64Array(T * d));
  const counts = new Float64Array(T);
  const byLength = new Map<number, (readonly number[])[]>();
  for (const p of prompts) byLength.set(p.length, [...(byLength.get(p.length) ?? []), p]);
  for (const [len, group] of byLength) {
    for (let i = 0; i < group.length; i += batchSize) {
      const batch = group.slice(i, i + batchSize);
      const { cache } = await model.run({ tokens: batch.map((p) => [...p]) });
      const at = { batch: batch.length, len, T };
      accumulate(input, cache.input, 1, d, at);
      for (let L = 0; L < nLayers; L++) {
        accumulate(z[L]!, cache.z[L]!, H, dHead, at);
        accumulate(mlp[L]!, cache.mlp[L]!, 1, d, at);
      }
      for (let t = 0; t < len; t++) counts[t]! += batch.length;
    }
  }
  const mean = (sums: Float64Array, width: number) => Float32Array.from(sums, (x, i) => x / counts[Math.floor(i / width) % T]!);
  return { seqLen: T, input: mean(input, d), z: z.map((s) => mean(s, dHead)), mlp: mlp.map((s) => mean(s, d)) };
}

/** Adds values [lead, batch, len, width] into sums [lead, T, width], over the batch. */
function accumulate(sums: Float64Array, values: Float32Array, lead: number, width: number, at: { batch: number; len: number; T: number }): void {
  for (let l = 0; l < lead; l++) {
    for (let b = 0; b < at.batch; b++) {
      for (let t = 0; t < at.len; t++) {
        const from = ((l * at.batch + b) * at.len + t) * width;
        const to = (l * at.T + t) * width;
        for (let j = 0; j < width; j++) sums[to + j]! += values[from + j]!;
      }
    }
  }
}

/** Values [lead, T', width] at positions 0..T-1, the same for each of `batch` rows: [lead, batch, T, width]. */
function broadcast(values: Float32Array | undefined, lead: number, width: number, batch: number, T: number, meansT: number): Float32Array {
  const out = new Float32Array(lead * batch * T * width);
  if (!values) return out;
  for (let l = 0; l < lead; l++) {
    const row = values.subarray(l * meansT * width, (l * meansT + T) * width);
    for (let b = 0; b < batch; b++) out.set(row, (l * batch + b) * T * width);
  }
  return out;
}

/**
 * The patch source of a group: every sender 0 (means undefined: zero ablation) or its reference
 * mean at each position, the same for every row; shaped like `base` (the group's clean run). Its
 * residual stream entering layer l is what a run with these sender outputs would carry: the base
 * run's plus the source-minus-base difference of every sender before l (the runtime may take a
 * patch term from the kept edges' side, as the source's stream minus the run's).
 */
export async function ablationSource(model: PatchableModel, base: SenderCache, means?: SenderMeans): Promise<SenderCache> {
  const { batch, seqLen, dModel } = base;
  const { nHeads: H, dHead, nLayers } = model.config;
  if (means && seqLen > means.seqLen) throw new Error(`mean ablation: the reference prompts have at most ${means.seqLen} tokens, a batch needs ${seqLen}`);
  const T0 = means?.seqLen ?? seqLen;
  const input = broadcast(means?.input, 1, dModel, batch, seqLen, T0);
  const z = Array.from({ length: nLayers }, (_, L) => broadcast(means?.z[L], H, dHead, batch, seqLen, T0));
  const mlp = Array.from({ length: nLayers }, (_, L) => broadcast(means?.mlp[L], 1, dModel, batch, seqLen, T0));
  // Running sum (float64) of src - base over the senders before each layer start: the input, then
  // per layer its attention output (the heads' sum) and its MLP.
  const X = batch * seqLen * dModel;
  const shift = new Float64Array(X);
  const add = (a: Float32Array, b: Float32Array) => {
    for (let i = 0; i < X; i++) shift[i]! += a[i]! - b[i]!;
  };
  add(input, base.input);
  const residStart: Float32Array[] = [];
  for (let L = 0; L <= nLayers; L++) {
    residStart.push(Float32Array.from(base.residStart[L]!, (x, i) => x + shift[i]!));
    if (L === nLayers) break;
    const dz = difference(z[L]!, base.z[L]!);
    const attn = await model.senderRows.attention(L, dz, batch, seqLen);
    for (let i = 0; i < X; i++) shift[i]! += attn[i]!;
    add(mlp[L]!, base.mlp[L]!);
  }
  return { batch, seqLen, dModel, input, z, mlp, residStart };
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
