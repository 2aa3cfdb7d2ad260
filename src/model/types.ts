// The one internal representation every model format is loaded into. The ONNX graph builder, the
// runner and the test reference forward all read this and nothing format-specific.

export type Architecture = 'gpt2' | 'llama';

/** A dense float32 tensor in row-major order. */
export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface ModelConfig {
  readonly architecture: Architecture;
  /** Human-readable name (file stem or config name); recorded with results. */
  readonly name: string;
  readonly dModel: number;
  readonly nLayers: number;
  /** Query heads. */
  readonly nHeads: number;
  /** Key/value heads (grouped-query attention when < nHeads). */
  readonly nKvHeads: number;
  readonly dHead: number;
  /** Hidden width of the MLP (c_fc width for GPT-2, gate/up width for SwiGLU). */
  readonly dMlp: number;
  readonly vocabSize: number;
  /** Learned-position table size (GPT-2) or training context length (RoPE models). */
  readonly maxPositions: number;
  readonly norm: 'layernorm' | 'rmsnorm';
  readonly normEps: number;
  readonly mlp: 'gelu_new' | 'swiglu';
  readonly positional: 'learned' | 'rope';
  /** RoPE base; rotary embedding covers the whole head, in the half-split ("rotate_half") layout. */
  readonly ropeTheta: number;
  readonly tiedEmbeddings: boolean;
  readonly bosTokenId?: number;
  readonly eosTokenId?: number;
}

export interface NormWeights {
  readonly weight: Tensor; // [dModel]
  readonly bias?: Tensor; // [dModel], LayerNorm only
}

export interface LayerWeights {
  readonly ln1: NormWeights;
  readonly wq: Tensor; // [nHeads, dModel, dHead]
  readonly bq?: Tensor; // [nHeads, dHead]
  readonly wk: Tensor; // [nKvHeads, dModel, dHead]
  readonly bk?: Tensor; // [nKvHeads, dHead]
  readonly wv: Tensor; // [nKvHeads, dModel, dHead]
  readonly bv?: Tensor; // [nKvHeads, dHead]
  readonly wo: Tensor; // [nHeads, dHead, dModel]
  readonly bo?: Tensor; // [dModel]; a constant, not part of any head's sender output
  readonly ln2: NormWeights;
  readonly wIn: Tensor; // [dModel, dMlp]: GPT-2 c_fc, SwiGLU up projection
  readonly bIn?: Tensor; // [dMlp]
  readonly wGate?: Tensor; // [dModel, dMlp]: SwiGLU gate projection (silu applied to it)
  readonly wOut: Tensor; // [dMlp, dModel]
  readonly bOut?: Tensor; // [dModel]; a constant, not part of the MLP's sender output
}

/**
 * All weights. Rotary models store q/k projection columns in the half-split layout: pair i of a
 * head is (i, i + dHead/2). Loaders of formats that use interleaved pairs (GGUF) permute into it.
 */
export interface ModelWeights {
  readonly embed: Tensor; // [vocabSize, dModel]
  readonly posEmbed?: Tensor; // [maxPositions, dModel], learned positions only
  readonly layers: readonly LayerWeights[];
  readonly lnFinal: NormWeights;
  readonly unembed: Tensor; // [dModel, vocabSize]
  readonly unembedBias?: Tensor; // [vocabSize]
}

export type ModelFormat = 'hf-safetensors' | 'gguf';

export interface LoadedModel {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  readonly source: { readonly path: string; readonly format: ModelFormat };
}

export function tensor(shape: readonly number[], data?: Float32Array): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = data ?? new Float32Array(n);
  if (d.length !== n) throw new Error(`tensor of shape [${shape.join(', ')}] needs ${n} values, got ${d.length}`);
  return { shape: [...shape], data: d };
}

export function parameterCount(w: ModelWeights, cfg: ModelConfig): number {
  const sizes: number[] = [w.embed.data.length, w.posEmbed?.data.length ?? 0];
  for (const l of w.layers) {
    for (const t of [l.ln1.weight, l.ln1.bias, l.wq, l.bq, l.wk, l.bk, l.wv, l.bv, l.wo, l.bo, l.ln2.weight, l.ln2.bias, l.wIn, l.bIn, l.wGate, l.wOut, l.bOut]) sizes.push(t?.data.length ?? 0);
  }
  sizes.push(w.lnFinal.weight.data.length, w.lnFinal.bias?.data.length ?? 0);
  if (!cfg.tiedEmbeddings) sizes.push(w.unembed.data.length);
  sizes.push(w.unembedBias?.data.length ?? 0);
  return sizes.reduce((a, b) => a + b, 0);
}
