// The activations a run keeps, in compact form: a head's sender output is z_h W_O[h], linear in its
// attention output z_h, which is d / d_head times smaller (12x on GPT-2), so a cache keeps z and
// forms full-width head outputs only where they are needed (sender-rows.ts).

export interface SenderCache {
  readonly batch: number;
  readonly seqLen: number;
  readonly dModel: number;
  /** The input sender's output (the embeddings) [B, T, d]. */
  readonly input: Float32Array;
  /** Per layer, the heads' attention outputs before W_O: z [H, B, T, dh]. */
  readonly z: readonly Float32Array[];
  /** Per layer, the MLP's sender output [B, T, d] (no output bias: it is in the stream). */
  readonly mlp: readonly Float32Array[];
  /** residStart[l] is the residual stream [B, T, d] entering layer l; residStart[nLayers] enters the final norm. */
  readonly residStart: readonly Float32Array[];
}

export function sameShape(a: SenderCache, b: SenderCache): boolean {
  return a.batch === b.batch && a.seqLen === b.seqLen && a.dModel === b.dModel && a.z.length === b.z.length && a.z.every((z, L) => z.length === b.z[L]!.length);
}

/** a - b, element by element, into `out` (returned). */
export function subtractInto(out: Float32Array, a: Float32Array, b: Float32Array): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! - b[i]!;
  return out;
}

/** a - b, element by element. */
export function difference(a: Float32Array, b: Float32Array): Float32Array {
  return subtractInto(new Float32Array(a.length), a, b);
}
