// Small seeded random models in the internal representation, for tests that must not depend on a
// loader. Scales are chosen so attention is far from uniform and every component moves the logits:
// a test that passes because everything is ~0 proves nothing.
import { Random } from '../../src/core/random.js';
import { type LayerWeights, type ModelConfig, type ModelWeights, type NormWeights, type Tensor, tensor } from '../../src/model/types.js';

export interface RandomShape {
  readonly dModel: number;
  readonly nLayers: number;
  readonly nHeads: number;
  /** Llama only; defaults to nHeads / 2 when nHeads is even (grouped-query), else nHeads. */
  readonly nKvHeads?: number;
  /** Defaults to dModel / nHeads. */
  readonly dHead?: number;
  /** Defaults to 4 * dModel (gpt2) or 3 * dModel (llama). */
  readonly dMlp?: number;
  readonly vocabSize: number;
  /** Defaults to 32. */
  readonly maxPositions?: number;
}

export function randomTokens(n: number, vocabSize: number, seed: number): number[] {
  const random = new Random(seed);
  return Array.from({ length: n }, () => random.int(vocabSize));
}

export function randomModel(arch: 'gpt2' | 'llama', shape: RandomShape, seed: number): { config: ModelConfig; weights: ModelWeights } {
  const random = new Random(seed);
  const normal = () => random.normal();
  const gpt2 = arch === 'gpt2';
  const { dModel: d, nLayers, nHeads: H, vocabSize: V } = shape;
  const dh = shape.dHead ?? d / H;
  const KV = gpt2 ? H : (shape.nKvHeads ?? (H % 2 === 0 ? H / 2 : H));
  const f = shape.dMlp ?? (gpt2 ? 4 * d : 3 * d);
  const maxPositions = shape.maxPositions ?? 32;
  if (!Number.isInteger(dh)) throw new Error(`dModel ${d} is not a multiple of nHeads ${H}; pass dHead`);

  const rand = (dims: readonly number[], std: number, mean = 0): Tensor => {
    const t = tensor(dims);
    for (let i = 0; i < t.data.length; i++) t.data[i] = mean + std * normal();
    return t;
  };
  const norm = (): NormWeights => (gpt2 ? { weight: rand([d], 0.1, 1), bias: rand([d], 0.1) } : { weight: rand([d], 0.1, 1) });
  const bias = (dims: readonly number[]): Tensor | undefined => (gpt2 ? rand(dims, 0.1) : undefined);

  const layers: LayerWeights[] = [];
  for (let l = 0; l < nLayers; l++) {
    layers.push({
      ln1: norm(),
      wq: rand([H, d, dh], 1.5 / Math.sqrt(d)), // scores of order 1-2: attention is peaked, not uniform
      bq: bias([H, dh]),
      wk: rand([KV, d, dh], 1.5 / Math.sqrt(d)),
      bk: bias([KV, dh]),
      wv: rand([KV, d, dh], 1 / Math.sqrt(d)),
      bv: bias([KV, dh]),
      wo: rand([H, dh, d], 1 / Math.sqrt(H * dh)),
      bo: bias([d]),
      ln2: norm(),
      wIn: rand([d, f], 1 / Math.sqrt(d)),
      bIn: bias([f]),
      wGate: gpt2 ? undefined : rand([d, f], 1 / Math.sqrt(d)),
      wOut: rand([f, d], 1 / Math.sqrt(f)),
      bOut: bias([d]),
    });
  }

  const embed = rand([V, d], 1);
  let unembed: Tensor;
  if (gpt2) {
    // GPT-2 ties the LM head to the token embedding: unembed = embed^T.
    unembed = tensor([d, V]);
    for (let v = 0; v < V; v++) for (let i = 0; i < d; i++) unembed.data[i * V + v] = embed.data[v * d + i]!;
  } else {
    unembed = rand([d, V], 1 / Math.sqrt(d));
  }

  const config: ModelConfig = {
    architecture: arch,
    name: `random-${arch}-${seed}`,
    dModel: d,
    nLayers,
    nHeads: H,
    nKvHeads: KV,
    dHead: dh,
    dMlp: f,
    vocabSize: V,
    maxPositions,
    norm: gpt2 ? 'layernorm' : 'rmsnorm',
    normEps: 1e-5,
    mlp: gpt2 ? 'gelu_new' : 'swiglu',
    positional: gpt2 ? 'learned' : 'rope',
    ropeTheta: 10000,
    tiedEmbeddings: gpt2,
  };
  const weights: ModelWeights = {
    embed,
    posEmbed: gpt2 ? rand([maxPositions, d], 0.5) : undefined,
    layers,
    lnFinal: norm(),
    unembed,
  };
  return { config, weights };
}

/** max_i |a_i - b_i| */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
