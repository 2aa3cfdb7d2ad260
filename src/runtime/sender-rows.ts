// Full-width sender outputs from a compact cache (cache.ts): the input and the MLPs are kept whole,
// a head's output is formed as z_h W_O[h] with one small session per need. Used for the difference
// stack of edge patches, node mixing of senders a run does not recompute, attribution's sender
// differences and the viewer's per-node writes.
import type { ComponentGraph } from '../graph/component-graph.js';
import { memoized } from '../core/memo.js';
import type { ModelConfig, ModelWeights } from '../model/types.js';
import { type SenderCache, difference, subtractInto } from './cache.js';
import { buildSendersFromZ } from './layer-graphs.js';
import { type SessionPool, f32, floats } from './sessions.js';

export class SenderRows {
  /** Full stacks, made once per cache and kept while the cache lives. */
  private readonly stacks = new WeakMap<SenderCache, Promise<Float32Array>>();
  /** By the cache's z array of the layer. */
  private readonly attentions = new WeakMap<Float32Array, Promise<Float32Array>>();

  constructor(
    private readonly pool: SessionPool,
    private readonly config: ModelConfig,
    private readonly weights: ModelWeights,
    private readonly graph: ComponentGraph,
  ) {}

  /** Each head's output of layer L from z [H, B, T, dh]: [H, B, T, d], into `into` if given. */
  async heads(L: number, z: Float32Array, batch: number, seqLen: number, into?: Float32Array): Promise<Float32Array> {
    const { nHeads: H, dHead, dModel } = this.config;
    const out = into ?? new Float32Array(H * batch * seqLen * dModel);
    const build = () => buildSendersFromZ(this.config, this.weights.layers[L]!, false);
    await this.pool.run(`head-outputs:${L}`, build, { z: f32(z, [1, H, batch, seqLen, dHead]) }, { out: f32(out, [1, H, batch * seqLen, dModel]) });
    return out;
  }

  /** The attention output of layer L, sum_h z_h W_O[h] (no bias), from z [H, B, T, dh]: [B, T, d]. */
  async attention(L: number, z: Float32Array, batch: number, seqLen: number): Promise<Float32Array> {
    const { nHeads: H, dHead } = this.config;
    const build = () => buildSendersFromZ(this.config, this.weights.layers[L]!, true);
    return floats((await this.pool.run(`attention-output:${L}`, build, { z: f32(z, [1, H, batch, seqLen, dHead]) })).out, 'out');
  }

  /**
   * A cached run's attention output of layer L (no bias), made once per cache and layer: a run
   * that patches from the cache reads it in every pass (ACDC's per-receiver layers).
   */
  attentionOf(cache: SenderCache, L: number): Promise<Float32Array> {
    // A layer's z array belongs to one cache: it keys the layer's attention output.
    const z = cache.z[L]!;
    return memoized(this.attentions, z, () => this.attention(L, z, cache.batch, cache.seqLen));
  }

  /** Every sender's output [S, B, T, d] in the graph's sender order (made once per cache). */
  stack(cache: SenderCache): Promise<Float32Array> {
    return memoized(this.stacks, cache, () => this.makeStack(cache));
  }

  /** One sender's output [B, T, d]. */
  async sender(cache: SenderCache, s: number): Promise<Float32Array> {
    const node = this.graph.senders[s]!;
    if (node.kind === 'input') return cache.input;
    if (node.kind === 'mlp') return cache.mlp[node.layer]!;
    const X = cache.batch * cache.seqLen * cache.dModel;
    return (await this.heads(node.layer, cache.z[node.layer]!, cache.batch, cache.seqLen)).subarray(node.head * X, (node.head + 1) * X);
  }

  /**
   * src - base of the given senders, each [B, T, d]: heads are formed once per layer from the
   * difference of z, however many of the layer's heads are asked for.
   */
  async differenceRows(src: SenderCache, base: SenderCache, senders: readonly number[]): Promise<Map<number, Float32Array>> {
    const X = base.batch * base.seqLen * base.dModel;
    const out = new Map<number, Float32Array>();
    const layers = new Map<number, Promise<Float32Array>>();
    for (const s of senders) {
      const node = this.graph.senders[s]!;
      if (node.kind === 'input') out.set(s, difference(src.input, base.input));
      else if (node.kind === 'mlp') out.set(s, difference(src.mlp[node.layer]!, base.mlp[node.layer]!));
      else {
        const heads = memoized(layers, node.layer, () => this.heads(node.layer, difference(src.z[node.layer]!, base.z[node.layer]!), base.batch, base.seqLen));
        out.set(s, (await heads).subarray(node.head * X, (node.head + 1) * X));
      }
    }
    return out;
  }

  /**
   * src - base of senders [from, to) into `out` at row `from` (rows of X = B T d values from
   * `at`): a difference stack's rows. Heads are formed layer by layer from the difference of z
   * (the layer's other head rows may be rewritten with the same values).
   */
  async differences(src: SenderCache, base: SenderCache, from: number, to: number, out: Float32Array, at = 0): Promise<void> {
    const g = this.graph;
    const X = base.batch * base.seqLen * base.dModel;
    const row = (s: number) => out.subarray(at + s * X, at + (s + 1) * X);
    for (let s = from; s < to; ) {
      const node = g.senders[s]!;
      if (node.kind === 'input') {
        subtractInto(row(s), src.input, base.input);
        s++;
      } else if (node.kind === 'mlp') {
        subtractInto(row(s), src.mlp[node.layer]!, base.mlp[node.layer]!);
        s++;
      } else {
        const first = g.headSender(node.layer, 0);
        const dz = difference(src.z[node.layer]!, base.z[node.layer]!);
        await this.heads(node.layer, dz, base.batch, base.seqLen, out.subarray(at + first * X, at + (first + this.config.nHeads) * X));
        s = first + this.config.nHeads;
      }
    }
  }

  private async makeStack(cache: SenderCache): Promise<Float32Array> {
    const g = this.graph;
    const X = cache.batch * cache.seqLen * cache.dModel;
    const out = new Float32Array(g.nSenders * X);
    out.set(cache.input, 0);
    for (let L = 0; L < g.nLayers; L++) {
      const s0 = g.layerSenderStart(L);
      await this.heads(L, cache.z[L]!, cache.batch, cache.seqLen, out.subarray(s0 * X, (s0 + this.config.nHeads) * X));
      out.set(cache.mlp[L]!, g.mlpSender(L) * X);
    }
    return out;
  }
}
