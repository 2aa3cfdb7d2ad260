// The runner everything else uses: clean and corrupted runs with a sender cache, and patched runs
// with K mask configurations in one pass (patched-pass.ts), starting at the first layer any patch
// reaches.
import { ComponentGraph } from '../graph/component-graph.js';
import type { LoadedModel, ModelConfig, ModelWeights } from '../model/types.js';
import { type SenderCache, sameShape } from './cache.js';
import { DiffStacks } from './diff-stack.js';
import { type LogitPositions, type RunInput, batchShape, gatherIndices, inputSender } from './inputs.js';
import { buildFinalLayer, buildLogits, buildPatchedLayer, buildPlainForward, buildPlainLayer, type LayerOutputs, type MaskMode } from './layer-graphs.js';
import type { EdgeMasks } from './masks.js';
import { NodeMixing } from './node-mixing.js';
import { type PassModel, PatchedPass, finalKey, patchedKey, plainKey, plainLogits } from './patched-pass.js';
import { SenderRows } from './sender-rows.js';
import { SessionPool, type SessionOptions, f32, floats, i64 } from './sessions.js';
import { checkAttentionShape } from './weight-layouts.js';

export interface RunResult {
  /** [B, N/B, V]: logits at the requested positions, prompt-major. */
  readonly logits: Float32Array;
  readonly cache: SenderCache;
}

/** Prompt-configurations (K x B) one patched pass handles at most; larger requests run in chunks of K. */
export const DEFAULT_MAX_ROWS = 64;

export interface PatchOptions {
  /** The patch source: the other run's cache (clean for denoising, corrupted for noising). */
  readonly source: SenderCache;
  readonly masks: EdgeMasks;
  /** The base run's cache, if already computed for this input (saves one forward). */
  readonly base?: SenderCache;
  readonly positions?: LogitPositions;
  /**
   * Recompute from this layer instead of the first layer a patch reaches (must not be later than
   * that): for a base whose prefix differs from the base cache's (a denoising prefix), and for
   * checks of prefix reuse.
   */
  readonly fromLayer?: number;
  /** Bound on K x B per pass (memory grows with it); default DEFAULT_MAX_ROWS. */
  readonly maxRows?: number;
}

export interface PatchedResult {
  /** [K, B, N/B, V]. */
  readonly logits: Float32Array;
  /** First layer that was recomputed (layers before it were taken from the base cache). */
  readonly startLayer: number;
  /**
   * Layers that ran in the per-receiver form (nLayers: the logits receiver); the others ran with a
   * shared residual stream, node patches mixed in at the senders' outputs.
   */
  readonly perReceiverLayers?: readonly number[];
}

export class PatchableModel {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  readonly graph: ComponentGraph;
  /** Full-width sender outputs of a cache (it keeps heads as z). */
  readonly senderRows: SenderRows;
  private readonly pool: SessionPool;
  private readonly stacks: DiffStacks;
  /** What a patched pass uses of this model. */
  private readonly passModel: PassModel;

  constructor(
    readonly model: LoadedModel,
    opts: SessionOptions = {},
  ) {
    this.config = model.config;
    this.weights = model.weights;
    checkAttentionShape(this.config);
    this.graph = ComponentGraph.forModel(this.config);
    this.pool = new SessionPool(opts);
    this.senderRows = new SenderRows(this.pool, this.config, this.weights, this.graph);
    this.stacks = new DiffStacks(this.senderRows);
    this.passModel = { config: this.config, weights: this.weights, graph: this.graph, pool: this.pool, senderRows: this.senderRows };
  }

  /** Builds every session a run can need now, so that timings and progress exclude start-up. */
  async warm(modes: readonly MaskMode[] = ['all-positions']): Promise<void> {
    const plainForms: [boolean, LayerOutputs][] = [
      [false, 'cache'],
      [false, 'diffs'],
      [false, 'stream'],
      [true, 'diffs'],
      [true, 'stream'],
    ];
    for (let L = 0; L < this.config.nLayers; L++) {
      const w = this.weights.layers[L]!;
      for (const [mix, outputs] of plainForms) {
        for (const cachedZ of outputs === 'cache' ? [false] : [false, true]) {
          await this.pool.get(plainKey(L, mix, outputs, cachedZ), () => buildPlainLayer(this.config, w, L, { mix, outputs, cachedZ })).session;
        }
      }
      for (const m of modes) {
        for (const a of ['per-receiver', 'shared'] as const) {
          for (const diffs of [false, true]) await this.pool.get(patchedKey(L, m, a, diffs), () => buildPatchedLayer(this.config, w, L, m, a, diffs)).session;
        }
      }
    }
    for (const mix of [false, true]) {
      for (const cachedZ of [false, true]) await this.pool.get(finalKey(mix, cachedZ), () => buildFinalLayer(this.config, this.weights, mix, cachedZ)).session;
    }
    await this.pool.get('logits:plain', () => buildLogits(this.config, this.weights, 'plain')).session;
    await this.pool.get('logits:patched', () => buildLogits(this.config, this.weights, 'patched')).session;
  }

  /** A plain run that keeps every sender's output (heads as their z: cache.ts). */
  async run(input: RunInput, positions: LogitPositions = 'last'): Promise<RunResult> {
    const { batch, seqLen } = batchShape(input);
    const { nLayers, nHeads, dModel, dHead } = this.config;
    const X = batch * seqLen * dModel;
    const emb = inputSender(this.config, this.weights, input);
    const z: Float32Array[] = [];
    const mlp: Float32Array[] = [];
    const residStart: Float32Array[] = [emb];
    let resid = emb;
    for (let L = 0; L < nLayers; L++) {
      // ORT writes the layer's outputs straight into the cache's arrays: no copies.
      const fetches = {
        z: f32(new Float32Array(nHeads * batch * seqLen * dHead), [1, nHeads, batch, seqLen, dHead]),
        mlp: f32(new Float32Array(X), [1, batch, seqLen, dModel]),
        resid_out: f32(new Float32Array(X), [1, batch, seqLen, dModel]),
      };
      const build = () => buildPlainLayer(this.config, this.weights.layers[L]!, L);
      const out = await this.pool.run(plainKey(L, false, 'cache'), build, { resid: f32(resid, [1, batch, seqLen, dModel]) }, fetches);
      z.push(floats(out.z, 'z'));
      mlp.push(floats(out.mlp, 'mlp'));
      resid = floats(out.resid_out, 'resid_out');
      residStart.push(resid);
    }
    const logits = await plainLogits(this.passModel, resid, 1, batch, seqLen, positions);
    return { logits, cache: { batch, seqLen, dModel, input: emb, z, mlp, residStart } };
  }

  /**
   * input_r = sum_s cur_s + sum_s M[k, s, r] (src_s - cur_s) for every receiver r and every mask
   * configuration k, computed on the base input (corrupted prompt for denoising, clean for noising).
   * Senders patched alike into every receiver (node patches) are mixed at their output instead
   * (node-mixing.ts): only the remaining edge entries need the per-receiver form.
   */
  async runPatched(input: RunInput, opts: PatchOptions): Promise<PatchedResult> {
    return this.runPatchedWith(input, opts, false);
  }

  /**
   * runPatched, optionally with every recomputed layer in its per-receiver form even where no mask
   * reaches it: the same result, slower. Tests and benchmarks reach it through testing.ts.
   */
  protected async runPatchedWith(input: RunInput, opts: PatchOptions, alwaysPerReceiver: boolean): Promise<PatchedResult> {
    const { batch, seqLen } = batchShape(input);
    const { nLayers, nHeads, dModel } = this.config;
    const positions = opts.positions ?? 'last';
    const masks = opts.masks;
    if (masks.graph.nSenders !== this.graph.nSenders || masks.graph.nReceivers !== this.graph.nReceivers) {
      throw new Error('masks were made for another graph');
    }
    if (masks.seqLen !== undefined && masks.seqLen !== seqLen) {
      throw new Error(`per-position masks are for ${masks.seqLen} positions, the prompts have ${seqLen}`);
    }
    const base = opts.base ?? (await this.run(input, positions)).cache;
    const perChunk = Math.max(1, Math.floor((opts.maxRows ?? DEFAULT_MAX_ROWS) / batch));
    if (masks.k > perChunk) {
      // Memory of a pass grows with K x B: run large mask batches in chunks of configurations.
      const parts: Float32Array[] = [];
      let startLayer = this.config.nLayers;
      const perReceiverLayers = new Set<number>();
      for (let k0 = 0; k0 < masks.k; k0 += perChunk) {
        const r = await this.runPatchedWith(input, { ...opts, base, masks: masks.slice(k0, Math.min(masks.k, k0 + perChunk)) }, alwaysPerReceiver);
        parts.push(r.logits);
        startLayer = Math.min(startLayer, r.startLayer);
        r.perReceiverLayers?.forEach((L) => perReceiverLayers.add(L));
      }
      return { logits: concat(parts), startLayer, perReceiverLayers: [...perReceiverLayers].sort((a, b) => a - b) };
    }
    const src = opts.source;
    if (!sameShape(base, src) || base.batch !== batch || base.seqLen !== seqLen) {
      throw new Error(`patch source is ${src.batch} x ${src.seqLen} prompts/positions, the base run ${batch} x ${seqLen}: they must match`);
    }
    const g = this.graph;
    // The first layer any entry of M reaches, node patches included: their senders' outputs change there.
    let startLayer = 0;
    while (startLayer < nLayers && !masks.touches(g.layerReceiverStart(startLayer), 3 * nHeads + 1)) startLayer++;
    if (opts.fromLayer !== undefined) {
      if (opts.fromLayer > startLayer) throw new Error(`fromLayer ${opts.fromLayer} is after the first patched layer ${startLayer}`);
      startLayer = opts.fromLayer;
    }
    // Node patches become mixing at the senders' outputs; only the rest (edges) needs per-receiver inputs.
    const mix = NodeMixing.split(masks, startLayer);
    const pass = new PatchedPass(this.passModel, { batch, seqLen, positions, masks, mix, src, base, startLayer, fromLayerGiven: opts.fromLayer !== undefined, alwaysPerReceiver });
    // src - cur of every sender, [K, S, X]: rows before the first recomputed layer are src - base
    // in every configuration, each recomputed layer writes its own.
    const stack = pass.needsDifferences ? await this.stacks.acquire(masks.k, g.nSenders, batch * seqLen * dModel, src, base, g.layerSenderStart(startLayer)) : undefined;
    try {
      const { logits, perReceiverLayers } = await pass.run(stack);
      return { logits, startLayer, perReceiverLayers };
    } finally {
      if (stack) this.stacks.release(stack);
    }
  }

  /** The model as one ordinary ONNX graph (no per-receiver inputs, no cache): the baseline. */
  async plainForward(input: RunInput, positions: LogitPositions = 'last'): Promise<Float32Array> {
    const { batch, seqLen } = batchShape(input);
    const gather = gatherIndices(positions, batch, seqLen);
    const feeds = {
      input: f32(inputSender(this.config, this.weights, input), [batch, seqLen, this.config.dModel]),
      gather: i64(gather, [gather.length]),
    };
    const out = await this.pool.run('plain-forward', () => buildPlainForward(this.config, this.weights), feeds);
    return floats(out.logits, 'logits');
  }

  async release(): Promise<void> {
    this.stacks.clear();
    await this.pool.release();
  }
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
