// What a run takes: token ids, or token embeddings supplied directly (Gaussian noising adds noise
// to those), for B prompts of one length T.
import type { ModelConfig, ModelWeights } from '../model/types.js';

export type RunInput = { readonly tokens: readonly (readonly number[])[] } | { readonly embeddings: Float32Array; readonly batch: number; readonly seqLen: number };

/** Which positions get logits: every position, the last one, or per prompt one position or a list of them. */
export type LogitPositions = 'all' | 'last' | readonly (number | readonly number[])[];

export function batchShape(input: RunInput): { batch: number; seqLen: number } {
  if ('embeddings' in input) return { batch: input.batch, seqLen: input.seqLen };
  const batch = input.tokens.length;
  if (batch === 0) throw new Error('a run needs at least one prompt');
  const seqLen = input.tokens[0]!.length;
  input.tokens.forEach((p, i) => {
    if (p.length !== seqLen) throw new Error(`prompt ${i} has ${p.length} tokens, prompt 0 has ${seqLen}: a batch needs equal lengths`);
  });
  return { batch, seqLen };
}

/** Token embeddings [B, T, d] (no position embedding) for token ids. */
export function tokenEmbeddings(cfg: ModelConfig, w: ModelWeights, tokens: readonly (readonly number[])[]): Float32Array {
  const { batch, seqLen } = batchShape({ tokens });
  const d = cfg.dModel;
  const out = new Float32Array(batch * seqLen * d);
  tokens.forEach((p, b) =>
    p.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) {
        throw new Error(`prompt ${b}, position ${t}: token id ${id} is outside the vocabulary (0..${cfg.vocabSize - 1})`);
      }
      out.set(w.embed.data.subarray(id * d, (id + 1) * d), (b * seqLen + t) * d);
    }),
  );
  return out;
}

/** The `input` sender [B, T, d]: token embeddings plus learned position embeddings where the model has them. */
export function inputSender(cfg: ModelConfig, w: ModelWeights, input: RunInput): Float32Array {
  const { batch, seqLen } = batchShape(input);
  if (seqLen < 1) throw new Error('prompts must have at least one token');
  if (seqLen > cfg.maxPositions) throw new Error(`sequence of ${seqLen} tokens exceeds the model's ${cfg.maxPositions} positions`);
  const d = cfg.dModel;
  let x: Float32Array;
  if ('embeddings' in input) {
    if (input.embeddings.length !== batch * seqLen * d) {
      throw new Error(`embeddings have ${input.embeddings.length} values, expected batch ${batch} x seqLen ${seqLen} x d ${d}`);
    }
    x = Float32Array.from(input.embeddings);
  } else {
    x = tokenEmbeddings(cfg, w, input.tokens);
  }
  if (w.posEmbed) {
    const pe = w.posEmbed.data;
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < seqLen * d; i++) x[b * seqLen * d + i]! += pe[i]!;
    }
  }
  return x;
}

/** Flat b * T + t indices of the positions that get logits (a prompt may list several: multi-position metrics). */
export function gatherIndices(positions: LogitPositions, batch: number, seqLen: number): BigInt64Array {
  if (positions === 'all') return BigInt64Array.from({ length: batch * seqLen }, (_, i) => BigInt(i));
  if (positions === 'last') return BigInt64Array.from({ length: batch }, (_, b) => BigInt(b * seqLen + seqLen - 1));
  if (positions.length !== batch) throw new Error(`got ${positions.length} logit positions for ${batch} prompts`);
  const flat = positions.flatMap((ts, b) =>
    (typeof ts === 'number' ? [ts] : ts).map((t) => {
      if (!Number.isInteger(t) || t < 0 || t >= seqLen) throw new Error(`prompt ${b}: logit position ${t} is outside 0..${seqLen - 1}`);
      return BigInt(b * seqLen + t);
    }),
  );
  return BigInt64Array.from(flat);
}
