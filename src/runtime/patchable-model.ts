// The runner everything else uses: clean and corrupted runs with a sender cache, and patched runs
// with K mask configurations in one pass, starting at the first layer any patch reaches.
import type ort from 'onnxruntime-node';
import { ComponentGraph } from '../graph/component-graph.js';
import type { LoadedModel, ModelConfig, ModelWeights } from '../model/types.js';
import { type SenderCache, difference, sameShape } from './cache.js';
import { type DiffStack, DiffStacks } from './diff-stack.js';
import { type LogitPositions, type RunInput, batchShape, gatherIndices, inputSender } from './inputs.js';
import {
  type AttentionInput,
  buildFinalLayer,
  buildLogits,
  buildPatchedLayer,
  buildPatchedLayerSomeHeads,
  buildPlainForward,
  buildPlainLayer,
  type LayerOutputs,
  type MaskMode,
} from './layer-graphs.js';
import type { EdgeMasks } from './masks.js';
import { NodeMixing } from './node-mixing.js';
import { SenderRows } from './sender-rows.js';
import { type Feeds, type Fetches, SessionPool, type SessionOptions, f32, floats, i64 } from './sessions.js';
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
    const logits = await this.logitsPlain(resid, 1, batch, seqLen, positions);
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
    const { nLayers, nHeads, dModel, dHead } = this.config;
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
    const K = masks.k;
    const X = batch * seqLen * dModel;
    const g = this.graph;
    const mode: MaskMode = masks.perPosition ? 'per-position' : 'all-positions';
    // The first layer any entry of M reaches, node patches included: their senders' outputs change there.
    let startLayer = 0;
    while (startLayer < nLayers && !masks.touches(g.layerReceiverStart(startLayer), 3 * nHeads + 1)) startLayer++;
    if (opts.fromLayer !== undefined) {
      if (opts.fromLayer > startLayer) throw new Error(`fromLayer ${opts.fromLayer} is after the first patched layer ${startLayer}`);
      startLayer = opts.fromLayer;
    }
    // Node patches become mixing at the senders' outputs; only the rest (edges) needs per-receiver inputs.
    const mix = NodeMixing.split(masks, startLayer);
    const edges = mix.masks;
    const layerPatched = Array.from({ length: nLayers }, (_, L) => edges.touches(g.layerReceiverStart(L), 3 * nHeads + 1));
    const logitsPatched = edges.touches(g.logitsReceiver, 1);
    const perReceiver = (L: number) => layerPatched[L] || alwaysPerReceiver;
    const perReceiverLayers = Array.from({ length: nLayers - startLayer }, (_, i) => startLayer + i).filter(perReceiver);
    // Sender differences are read only by edge entries: without any, keep no stack (a per-receiver
    // layer that no entry reaches gets a zero mask over one zero row).
    const needDiff = logitsPatched || layerPatched.some((patched, L) => patched && L >= startLayer);
    const sStart = g.layerSenderStart(startLayer);
    const S = g.nSenders;
    // src - cur of every sender, [K, S, X]: rows before the first recomputed layer are src - base
    // in every configuration, each recomputed layer writes its own. Without edge entries none is kept.
    const stack = needDiff ? await this.stacks.acquire(K, S, X, src, base, sStart) : undefined;
    try {
      let resid = base.residStart[startLayer]!;
      let kResid = 1;
      let layersRun = 0;
      // Before any layer has run every configuration's rows are equal: configuration 0's serve all.
      const kd = () => (layersRun > 0 ? K : 1);
      const diffRows = (rows: readonly number[]): ort.Tensor => {
        if (!stack) return f32(new Float32Array(rows.length * X), [1, rows.length, batch, seqLen, dModel]);
        return f32(stack.rows(kd(), rows), [kd(), rows.length, batch, seqLen, dModel]);
      };
      // The stream a layer's receivers start from when its patch term is taken from the kept
      // edges' side: this run's stream plus every earlier sender's difference, which is the
      // source's stream plus what mixing senders the run does not recompute added to it (their
      // rows hold src - base).
      let premixShift: Float32Array | undefined;
      const keptBase = (L: number): Float32Array => {
        const srcResid = src.residStart[L]!;
        if (!premixShift) return srcResid;
        const out = new Float32Array(K * X);
        for (let k = 0; k < K; k++) for (let i = 0; i < X; i++) out[k * X + i] = srcResid[i]! + premixShift[k * X + i]!;
        return out;
      };
      const premixed = Array.from({ length: sStart }, (_, s) => s).filter((s) => mix.mixes(s));
      if (premixed.length > 0) {
        // Mixing senders the run does not recompute changes the residual stream it starts from, per configuration.
        const r = new Float32Array(K * X);
        premixShift = await this.premixShift(mix, premixed, startLayer, src, base, stack, K);
        for (let k = 0; k < K; k++) {
          r.set(resid, k * X);
          for (let i = 0; i < X; i++) r[k * X + i]! += premixShift[k * X + i]!;
        }
        resid = r;
        kResid = K;
      }
      let finalLogits: Float32Array | undefined;
      // The computed heads' differences of a layer some of whose heads are not read, before they go into the stack.
      let liveScratch: Float32Array | undefined;
      // With K > 1 a layer's differences go through these before they are spread over the configurations.
      const scratch = stack && K > 1 ? { heads: new Float32Array(K * nHeads * X), mlp: new Float32Array(K * X) } : undefined;
      for (let L = startLayer; L < nLayers; L++) {
        const sIn = g.layerSenderStart(L);
        const sMlp = g.mlpSender(L);
        const headRows = Array.from({ length: nHeads }, (_, h) => sIn + h);
        const srcFeeds = () => ({
          src_z: f32(src.z[L]!, [1, nHeads, batch, seqLen, dHead]),
          src_mlp: f32(src.mlp[L]!, [1, batch, seqLen, dModel]),
        });
        const mixFeeds = () => ({
          mix_heads: f32(mix.block(headRows, seqLen), [K, seqLen, nHeads]),
          mix_mlp: f32(mix.block([sMlp], seqLen), [K, seqLen]),
        });
        const fetchesFor = (k: number): Fetches => {
          const resid_out = f32(new Float32Array(k * X), [k, batch, seqLen, dModel]);
          if (!stack) return { resid_out };
          // With one configuration the layer writes its rows of the stack in place.
          const heads = scratch ? scratch.heads.subarray(0, k * nHeads * X) : stack.data.subarray(sIn * X, (sIn + nHeads) * X);
          const mlpDiff = scratch ? scratch.mlp.subarray(0, k * X) : stack.data.subarray(sMlp * X, (sMlp + 1) * X);
          return { resid_out, head_diff: f32(heads, [k, nHeads, batch * seqLen, dModel]), mlp_diff: f32(mlpDiff, [k, batch, seqLen, dModel]) };
        };
        // The first layer's stream is the base run's (no edge reaches it, nothing mixed before it):
        // its attention is the base run's too, and z comes from the cache.
        const cachedZ = !perReceiver(L) && L === startLayer && opts.fromLayer === undefined && resid === base.residStart[L];
        const zFeed = (): Feeds => (cachedZ ? { z: f32(base.z[L]!, [1, nHeads, batch, seqLen, dHead]) } : {});
        if (L === nLayers - 1 && !perReceiver(L) && !stack && !logitsPatched) {
          // Nothing reads the last layer's senders: it runs with the final norm and unembedding,
          // past attention only at the gathered positions.
          const withMix = mix.mixesAny(sIn, sMlp + 1);
          finalLogits = await this.finalLayer(resid, kResid, batch, seqLen, positions, { ...zFeed(), ...(withMix ? { ...srcFeeds(), ...mixFeeds() } : {}) }, withMix, cachedZ);
          break;
        }
        let out: Fetches;
        let kOut: number;
        let someHeads: readonly number[] | undefined;
        let mlpRuns = true;
        if (perReceiver(L)) {
          const rAttn = g.layerReceiverStart(L);
          const rMlp = g.mlpReceiver(L);
          // A head or MLP mixed with 1 everywhere carries the source's output to every receiver: what
          // it would compute is never read, so its receivers get no inputs (ACDC's late states).
          const unread = (s: number) => mix.mixes(s) && mix.mixesWhole(s);
          const live = headRows.filter((s) => !unread(s)).map((s) => s - sIn);
          mlpRuns = !unread(sMlp);
          if (live.length < nHeads || !mlpRuns) someHeads = live.length > 0 ? live : [0];
          const headRecv = (someHeads ?? headRows.map((s) => s - sIn)).flatMap((h) => [rAttn + 3 * h, rAttn + 3 * h + 1, rAttn + 3 * h + 2]);
          // Only senders some mask entry of those receivers reaches contribute a delta (a layer with
          // none gets one zero row); or, when fewer senders have an entry other than 1 (most edges
          // patched), the term is taken from the kept side: sum_s D_s + sum_s (M - 1) D_s over those
          // senders only. A sender this run recomputes and mixes with 1 everywhere has no entries
          // left and a difference of 0: neither side needs it. (One mixed before the first layer has
          // src - base in its row, which the kept side's sum_s D_s counts and its M - 1 = -1 takes
          // back out.)
          const senders = (baseline: number) => {
            const set = new Set<number>();
            if (someHeads) for (const r of headRecv) for (const s of edges.activeSenders(r, 1, baseline)) set.add(s);
            else for (const s of edges.activeSenders(rAttn, 3 * nHeads, baseline)) set.add(s);
            if (mlpRuns) for (const s of edges.activeSenders(rMlp, 1, baseline)) if (s < sIn) set.add(s);
            return [...set].filter((s) => baseline === 0 || s < sStart || !unread(s)).sort((a, b) => a - b);
          };
          const patched = senders(0);
          // (Both sides are counted: mixed senders drop out of both, so neither count predicts the other.)
          const kept = needDiff && patched.length > 1 ? senders(1) : undefined;
          const fromKept = kept !== undefined && kept.length < patched.length;
          const rows = feedRows(fromKept ? kept : patched, kd(), headRecv.length + (mlpRuns ? 1 : 0));
          const pos = masks.perPosition ? [seqLen] : [];
          // From the kept side the entries are M - 1, over the kept senders only: a row fed only
          // because it lies in a viewed range gets 0 (it may hold a sender no side reads).
          const keptRows = fromKept ? new Set(kept) : undefined;
          const block = (r0: number, nR: number) => (keptRows ? keptMinusOne(edges.block(r0, nR, rows), rows, keptRows, nR) : edges.block(r0, nR, rows));
          const recvBase = fromKept ? keptBase(L) : resid;
          const common = {
            resid: f32(resid, [kResid, batch, seqLen, dModel]),
            diff: diffRows(rows),
            recv_base: f32(recvBase, [recvBase.length / X, batch, seqLen, dModel]),
            ...srcFeeds(),
          };
          const maskAttn = block(rAttn, 3 * nHeads);
          kOut = K;
          if (someHeads) {
            const live = someHeads;
            const liveRows = live.map((h) => sIn + h);
            const n = live.length;
            const feeds: Feeds = {
              ...common,
              heads: i64(
                BigInt64Array.from(live, (h) => BigInt(h)),
                [n],
              ),
              pick: i64(
                BigInt64Array.from({ length: 3 * n }, (_, i) => BigInt(3 * (i % n) + Math.floor(i / n))),
                [3, n],
              ),
              mask_attn: f32(
                selectColumns(
                  maskAttn,
                  3 * nHeads,
                  headRecv.map((r) => r - rAttn),
                ),
                [K, ...pos, rows.length, 3 * n],
              ),
              mix_heads: f32(mix.block(liveRows, seqLen), [K, seqLen, n]),
              src_attn: f32(await this.senderRows.attentionOf(src, L), [1, batch, seqLen, dModel]),
            };
            if (mlpRuns) {
              feeds.mask_mlp_prev = f32(block(rMlp, 1), [K, ...pos, rows.length]);
              feeds.mask_mlp_heads = f32(edges.block(rMlp, 1, liveRows), [K, ...pos, n]);
              feeds.mix_mlp = f32(mix.block([sMlp], seqLen), [K, seqLen]);
            }
            // As fetchesFor, but the computed heads' rows go through liveScratch, and an MLP that does not run has none.
            const fetches = fetchesFor(K);
            if (stack) {
              liveScratch ??= new Float32Array(K * nHeads * X);
              fetches.head_diff = f32(liveScratch.subarray(0, K * n * X), [K, n, batch * seqLen, dModel]);
              if (!mlpRuns) delete fetches.mlp_diff;
            }
            const build = () => buildPatchedLayerSomeHeads(this.config, this.weights.layers[L]!, L, mode, stack !== undefined, mlpRuns);
            out = await this.pool.run(`patched-some:${L}:${mode}${stack ? ':diffs' : ''}${mlpRuns ? '' : ':no-mlp'}`, build, feeds, fetches);
          } else {
            const attnInput: AttentionInput = sameColumns(maskAttn, 3 * nHeads) ? 'shared' : 'per-receiver';
            const nAttn = attnInput === 'shared' ? 1 : 3 * nHeads;
            const feeds = {
              ...common,
              mask_attn: f32(attnInput === 'shared' ? firstColumn(maskAttn, 3 * nHeads) : maskAttn, [K, ...pos, rows.length, nAttn]),
              mask_mlp_prev: f32(block(rMlp, 1), [K, ...pos, rows.length]),
              mask_mlp_heads: f32(edges.block(rMlp, 1, headRows), [K, ...pos, nHeads]),
              ...mixFeeds(),
            };
            const build = () => buildPatchedLayer(this.config, this.weights.layers[L]!, L, mode, attnInput, stack !== undefined);
            out = await this.pool.run(patchedKey(L, mode, attnInput, stack !== undefined), build, feeds, fetchesFor(kOut));
          }
        } else {
          // Without sender differences to keep, the layer need not form its senders one by one.
          const withMix = mix.mixesAny(sIn, sMlp + 1);
          const outputs: LayerOutputs = stack ? 'diffs' : 'stream';
          const feeds = { resid: f32(resid, [kResid, batch, seqLen, dModel]), ...zFeed(), ...(withMix || stack ? srcFeeds() : {}), ...(withMix ? mixFeeds() : {}) };
          kOut = withMix ? K : kResid;
          const build = () => buildPlainLayer(this.config, this.weights.layers[L]!, L, { mix: withMix, outputs, cachedZ });
          out = await this.pool.run(plainKey(L, withMix, outputs, cachedZ), build, feeds, fetchesFor(kOut));
        }
        if (stack && someHeads && liveScratch) {
          // Rows of the computed heads from the layer's output. The others (and an MLP that did not
          // run) carry the source's value everywhere: no side of any later patch term reads them
          // (a view over a range of rows gives them zero mask entries), so they are left as they are.
          const n = someHeads.length;
          for (let k = 0; k < K; k++) {
            const slab = k * S * X;
            someHeads.forEach((h, i) => stack.data.set(liveScratch!.subarray((k * n + i) * X, (k * n + i + 1) * X), slab + (sIn + h) * X));
          }
          if (scratch && mlpRuns) spreadRows(stack.data, S, scratch.mlp.subarray(0, kOut * X), sMlp, 1, kOut, K, X);
        } else if (stack && scratch) {
          spreadRows(stack.data, S, scratch.heads.subarray(0, kOut * nHeads * X), sIn, nHeads, kOut, K, X);
          spreadRows(stack.data, S, scratch.mlp.subarray(0, kOut * X), sMlp, 1, kOut, K, X);
        }
        resid = floats(out.resid_out, 'resid_out');
        kResid = kOut;
        layersRun++;
      }

      let logits: Float32Array;
      if (finalLogits) {
        logits = finalLogits;
      } else if (logitsPatched) {
        const gather = gatherIndices(positions, batch, seqLen);
        const rows = feedRows(edges.activeSenders(g.logitsReceiver, 1), kd(), 1);
        const feeds = {
          resid: f32(resid, [kResid, batch, seqLen, dModel]),
          gather: i64(gather, [gather.length]),
          diff: diffRows(rows),
          mask: f32(logitsMask(edges, gather, seqLen, rows), [K, gather.length, rows.length]),
        };
        const out = await this.pool.run('logits:patched', () => buildLogits(this.config, this.weights, 'patched'), feeds);
        logits = floats(out.logits, 'logits');
        perReceiverLayers.push(nLayers);
      } else {
        logits = await this.logitsPlain(resid, kResid, batch, seqLen, positions);
      }
      if (logits.length / this.config.vocabSize !== K * gatherIndices(positions, batch, seqLen).length) {
        // Nothing was patched anywhere: every configuration is the base run.
        logits = repeat(logits, K);
      }
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

  /**
   * sum_s w[k, t, s] (src_s - base_s) over the senders a run mixes but does not recompute (all
   * before the first recomputed layer), per configuration: [K, X]. From the sparser side: directly
   * over those senders, or as the difference of the two runs' streams at the first recomputed layer
   * (every sender before it) plus sum_s (w - 1) D_s over the senders not mixed with 1 at every
   * configuration and position. A late ACDC state mixes most senders with 1.
   */
  private async premixShift(mix: NodeMixing, premixed: readonly number[], startLayer: number, src: SenderCache, base: SenderCache, stack: DiffStack | undefined, K: number): Promise<Float32Array> {
    const { batch, seqLen, dModel } = base;
    const X = batch * seqLen * dModel;
    const sStart = this.graph.layerSenderStart(startLayer);
    const shift = new Float32Array(K * X);
    const notOne = Array.from({ length: sStart }, (_, s) => s).filter((s) => {
      for (let k = 0; k < K; k++) for (let t = 0; t < seqLen; t++) if (mix.weight(k, t, s) !== 1) return true;
      return false;
    });
    const fromTotal = notOne.length < premixed.length;
    // Without a stack, each layer's head differences are formed once for this run.
    const heads = new Map<number, Float32Array>();
    const row = async (s: number): Promise<Float32Array> => {
      if (stack) return stack.data.subarray(s * X, (s + 1) * X);
      const node = this.graph.senders[s]!;
      if (node.kind !== 'head') return this.senderRows.difference(src, base, s);
      let layer = heads.get(node.layer);
      if (!layer) {
        layer = await this.senderRows.heads(node.layer, difference(src.z[node.layer]!, base.z[node.layer]!), batch, seqLen);
        heads.set(node.layer, layer);
      }
      return layer.subarray(node.head * X, (node.head + 1) * X);
    };
    if (fromTotal) {
      const a = src.residStart[startLayer]!;
      const b = base.residStart[startLayer]!;
      for (let k = 0; k < K; k++) for (let i = 0; i < X; i++) shift[k * X + i] = a[i]! - b[i]!;
    }
    for (const s of fromTotal ? notOne : premixed) {
      const d = await row(s);
      for (let k = 0; k < K; k++) addScaled(shift, k * X, (t) => mix.weight(k, t, s) - (fromTotal ? 1 : 0), d, batch, seqLen, dModel);
    }
    return shift;
  }

  /** The last layer, final norm and unembedding at the gathered positions (buildFinalLayer). */
  private async finalLayer(resid: Float32Array, k: number, batch: number, seqLen: number, positions: LogitPositions, extra: Feeds, mix: boolean, cachedZ: boolean): Promise<Float32Array> {
    const gather = gatherIndices(positions, batch, seqLen);
    const feeds: Feeds = { resid: f32(resid, [k, batch, seqLen, this.config.dModel]), gather: i64(gather, [gather.length]), ...extra };
    if (mix)
      feeds.gather_t = i64(
        gather.map((i) => i % BigInt(seqLen)),
        [gather.length],
      );
    const out = await this.pool.run(finalKey(mix, cachedZ), () => buildFinalLayer(this.config, this.weights, mix, cachedZ), feeds);
    return floats(out.logits, 'logits');
  }

  private async logitsPlain(resid: Float32Array, k: number, batch: number, seqLen: number, positions: LogitPositions): Promise<Float32Array> {
    const gather = gatherIndices(positions, batch, seqLen);
    const out = await this.pool.run('logits:plain', () => buildLogits(this.config, this.weights, 'plain'), {
      resid: f32(resid, [k, batch, seqLen, this.config.dModel]),
      gather: i64(gather, [gather.length]),
    });
    return floats(out.logits, 'logits');
  }
}

function plainKey(L: number, mix: boolean, outputs: LayerOutputs, cachedZ = false): string {
  return `plain${mix ? '-mix' : ''}-${outputs}${cachedZ ? '-cached-z' : ''}:${L}`;
}

function finalKey(mix: boolean, cachedZ: boolean): string {
  return `final${mix ? '-mix' : ''}${cachedZ ? '-cached-z' : ''}`;
}

function patchedKey(L: number, mode: MaskMode, attnInput: AttentionInput, diffs: boolean): string {
  return `patched:${L}:${mode}:${attnInput}${diffs ? ':diffs' : ''}`;
}

/** Adds w(t) diff to the row [B, T, d] of `out` at `at`, at each position t (0: skipped). */
function addScaled(out: Float32Array, at: number, w: (t: number) => number, diff: Float32Array, batch: number, seqLen: number, d: number): void {
  for (let t = 0; t < seqLen; t++) {
    const wt = w(t);
    if (wt === 0) continue;
    for (let b = 0; b < batch; b++) {
      const o = (b * seqLen + t) * d;
      for (let i = 0; i < d; i++) out[at + o + i]! += wt * diff[o + i]!;
    }
  }
}

/**
 * The sender rows to feed for the `needed` ones (ascending), from a difference stack kd wide: with
 * kd = 1, their whole range when that costs less than copying them out (a view of the stack costs
 * no copy, and the rows between get zero mask entries, each adding a product row for every one of
 * the `receivers` columns: copying a row costs about what 33 such product rows do), else just them;
 * one zero-mask row when none is needed.
 */
function feedRows(needed: readonly number[], kd: number, receivers: number): readonly number[] {
  if (needed.length === 0) return [0];
  const lo = needed[0]!;
  const span = needed[needed.length - 1]! - lo + 1;
  if (kd === 1 && span * receivers <= needed.length * (receivers + 33)) return Array.from({ length: span }, (_, i) => lo + i);
  return needed;
}

/** M - 1 for the entries of the `kept` senders' rows of a [..., rows.length, n] mask block (all edges: senders before the layer), 0 for the other rows. */
function keptMinusOne(block: Float32Array, rows: readonly number[], kept: ReadonlySet<number>, n: number): Float32Array {
  const keep = rows.map((s) => kept.has(s));
  const per = rows.length * n;
  for (let i = 0; i < block.length; i++) block[i] = keep[Math.floor((i % per) / n)] ? block[i]! - 1 : 0;
  return block;
}

/** Whether every row of a [rows, n] block holds one value (all n receivers see the same mask column). */
function sameColumns(block: Float32Array, n: number): boolean {
  for (let i = 0; i < block.length; i += n) {
    for (let j = 1; j < n; j++) if (block[i + j] !== block[i]) return false;
  }
  return true;
}

/** Columns `cols` of a [rows, n] block, as [rows, cols.length]. */
function selectColumns(block: Float32Array, n: number, cols: readonly number[]): Float32Array {
  const rows = block.length / n;
  const out = new Float32Array(rows * cols.length);
  for (let i = 0; i < rows; i++) cols.forEach((c, j) => (out[i * cols.length + j] = block[i * n + c]!));
  return out;
}

/** Column 0 of a [rows, n] block, as [rows, 1]. */
function firstColumn(block: Float32Array, n: number): Float32Array {
  const out = new Float32Array(block.length / n);
  for (let i = 0; i < out.length; i++) out[i] = block[i * n]!;
  return out;
}

/**
 * Copies n senders' rows [kOut, n, X] (kOut 1 or K) into rows [first, first + n) of every
 * configuration of a [K, S, X] difference stack.
 */
function spreadRows(stack: Float32Array, S: number, rows: Float32Array, first: number, n: number, kOut: number, K: number, X: number): void {
  const len = n * X;
  for (let k = 0; k < K; k++) {
    const o = (kOut === 1 ? 0 : k) * len;
    stack.set(rows.subarray(o, o + len), (k * S + first) * X);
  }
}

/** The logits receiver's mask at each gathered position, for the given senders: [K, N, A]. */
function logitsMask(masks: EdgeMasks, gather: BigInt64Array, seqLen: number, senders: readonly number[]): Float32Array {
  const r = masks.graph.logitsReceiver;
  const N = gather.length;
  const A = senders.length;
  const out = new Float32Array(masks.k * N * A);
  for (let k = 0; k < masks.k; k++) {
    for (let n = 0; n < N; n++) {
      const t = Number(gather[n]!) % seqLen;
      senders.forEach((s, i) => (out[(k * N + n) * A + i] = masks.get(k, s, r, masks.perPosition ? t : undefined)));
    }
  }
  return out;
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

function repeat(x: Float32Array, k: number): Float32Array {
  const out = new Float32Array(x.length * k);
  for (let i = 0; i < k; i++) out.set(x, i * x.length);
  return out;
}
