// One patched run, after PatchableModel.runPatched has checked its inputs and chosen the first
// layer to recompute: the residual stream from there to the logits, one layer graph at a time.
// Each layer runs in the cheapest form that computes the same thing:
// - plain (a shared stream, node patches mixed in at the senders' outputs) where no edge entry
//   reaches it;
// - per receiver where one does: receiver inputs from the stream plus the patch term, taken from
//   the sparser side (patched or kept senders), only for the heads and MLP something reads;
// - the last layer fused with the unembedding, at the gathered positions only, when nothing reads
//   its senders.
// Sender differences (src - cur) that later edge entries read go into a difference stack that the
// layers write themselves.
import type { ComponentGraph } from '../graph/component-graph.js';
import type { ModelConfig, ModelWeights } from '../model/types.js';
import type { SenderCache } from './cache.js';
import type { DiffStack } from './diff-stack.js';
import { type LogitPositions, gatherIndices } from './inputs.js';
import { type AttentionInput, buildFinalLayer, buildLogits, buildPatchedLayer, buildPatchedLayerSomeHeads, buildPlainLayer, type LayerOutputs, type MaskMode } from './layer-graphs.js';
import type { EdgeMasks } from './masks.js';
import type { NodeMixing } from './node-mixing.js';
import { addScaled, feedRows, firstColumn, keptMinusOne, logitsMask, sameColumns, selectColumns, spreadRows } from './patch-feeds.js';
import type { SenderRows } from './sender-rows.js';
import { type Feeds, type Fetches, type SessionPool, f32, floats, i64 } from './sessions.js';

/** What a pass uses of its model. */
export interface PassModel {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  readonly graph: ComponentGraph;
  readonly pool: SessionPool;
  readonly senderRows: SenderRows;
}

/** A pass's inputs, checked by the caller. */
export interface PassPlan {
  readonly batch: number;
  readonly seqLen: number;
  readonly positions: LogitPositions;
  /** Every mask entry (node patches included): K configurations, per position or not. */
  readonly masks: EdgeMasks;
  /** The node patches as mixing at the senders' outputs, and the edge entries left (mix.masks). */
  readonly mix: NodeMixing;
  readonly src: SenderCache;
  readonly base: SenderCache;
  readonly startLayer: number;
  /** The caller chose the first layer (PatchOptions.fromLayer): its stream is not known to be the base run's. */
  readonly fromLayerGiven: boolean;
  /** Run every recomputed layer per receiver, even where no entry reaches it (testing.ts). */
  readonly alwaysPerReceiver: boolean;
}

export interface PassResult {
  readonly logits: Float32Array;
  /** Layers that ran per receiver (nLayers: the logits receiver). */
  readonly perReceiverLayers: readonly number[];
}

/** What a layer's run gave: its outputs, how many configurations they hold, and what it computed. */
interface LayerRun {
  readonly out: Fetches;
  readonly kOut: number;
  /** The heads computed, when not every head was (per-receiver layers of late ACDC states). */
  readonly someHeads?: readonly number[];
  readonly mlpRuns: boolean;
}

export function plainKey(L: number, mix: boolean, outputs: LayerOutputs, cachedZ = false): string {
  return `plain${mix ? '-mix' : ''}-${outputs}${cachedZ ? '-cached-z' : ''}:${L}`;
}

export function finalKey(mix: boolean, cachedZ: boolean): string {
  return `final${mix ? '-mix' : ''}${cachedZ ? '-cached-z' : ''}`;
}

export function patchedKey(L: number, mode: MaskMode, attnInput: AttentionInput, diffs: boolean): string {
  return `patched:${L}:${mode}:${attnInput}${diffs ? ':diffs' : ''}`;
}

function someHeadsKey(L: number, mode: MaskMode, diffs: boolean, mlpRuns: boolean): string {
  return `patched-some:${L}:${mode}${diffs ? ':diffs' : ''}${mlpRuns ? '' : ':no-mlp'}`;
}

/** Final norm and unembedding of a stream [k, B, T, d] at the gathered positions: [k, N, V]. */
export async function plainLogits(m: PassModel, resid: Float32Array, k: number, batch: number, seqLen: number, positions: LogitPositions): Promise<Float32Array> {
  const gather = gatherIndices(positions, batch, seqLen);
  const out = await m.pool.run('logits:plain', () => buildLogits(m.config, m.weights, 'plain'), {
    resid: f32(resid, [k, batch, seqLen, m.config.dModel]),
    gather: i64(gather, [gather.length]),
  });
  return floats(out.logits, 'logits');
}

/** One pass: made for a plan, run once; its fields are the state carried from layer to layer. */
export class PatchedPass {
  private readonly K: number;
  /** Values of one sender row: B x T x d. */
  private readonly X: number;
  private readonly mode: MaskMode;
  /** The edge entries left after node patches became mixing. */
  private readonly edges: EdgeMasks;
  private readonly layerPatched: readonly boolean[];
  private readonly logitsPatched: boolean;
  private readonly perReceiverLayers: number[];
  /** The stream the next layer starts from, kResid configurations wide. */
  private resid: Float32Array;
  private kResid = 1;
  private layersRun = 0;
  /** What mixing senders before the first layer added to the stream, per configuration. */
  private premixShift: Float32Array | undefined;
  /** The computed heads' differences of a layer some of whose heads are not read, before they go into the stack. */
  private liveScratch: Float32Array | undefined;
  /** src - cur of every sender, [K, S, X], when edge entries read any difference (see run). */
  private stack: DiffStack | undefined;
  /** With K > 1 a layer's differences go through these before they are spread over the configurations. */
  private scratch: { readonly heads: Float32Array; readonly mlp: Float32Array } | undefined;

  constructor(
    private readonly m: PassModel,
    private readonly p: PassPlan,
  ) {
    const { nLayers, nHeads, dModel } = m.config;
    const g = m.graph;
    this.K = p.masks.k;
    this.X = p.batch * p.seqLen * dModel;
    this.mode = p.masks.perPosition ? 'per-position' : 'all-positions';
    this.edges = p.mix.masks;
    this.layerPatched = Array.from({ length: nLayers }, (_, L) => this.edges.touches(g.layerReceiverStart(L), 3 * nHeads + 1));
    this.logitsPatched = this.edges.touches(g.logitsReceiver, 1);
    this.perReceiverLayers = Array.from({ length: nLayers - p.startLayer }, (_, i) => p.startLayer + i).filter((L) => this.perReceiver(L));
    this.resid = p.base.residStart[p.startLayer]!;
  }

  /**
   * Whether edge entries read sender differences: run then needs a difference stack. Without any,
   * none is kept (a per-receiver layer that no entry reaches gets a zero mask over one zero row).
   */
  get needsDifferences(): boolean {
    return this.logitsPatched || this.layerPatched.some((patched, L) => patched && L >= this.p.startLayer);
  }

  /**
   * Runs the pass; `stack` (K x S sender rows, needed when needsDifferences) holds src - base in its
   * rows before the first recomputed layer, and each recomputed layer writes its own.
   */
  async run(stack: DiffStack | undefined): Promise<PassResult> {
    const { nLayers, nHeads } = this.m.config;
    const { startLayer, base } = this.p;
    if (this.needsDifferences && !stack) throw new Error('a pass whose edge entries read sender differences needs a difference stack');
    this.stack = stack;
    this.scratch = stack && this.K > 1 ? { heads: new Float32Array(this.K * nHeads * this.X), mlp: new Float32Array(this.K * this.X) } : undefined;
    await this.mixBeforeStart();
    let finalLogits: Float32Array | undefined;
    for (let L = startLayer; L < nLayers; L++) {
      // The first layer's stream is the base run's (no edge reaches it, nothing mixed before it):
      // its attention is the base run's too, and z comes from the cache.
      const cachedZ = !this.perReceiver(L) && L === startLayer && !this.p.fromLayerGiven && this.resid === base.residStart[L];
      if (L === nLayers - 1 && !this.perReceiver(L) && !stack && !this.logitsPatched) {
        // Nothing reads the last layer's senders: it runs with the final norm and unembedding,
        // past attention only at the gathered positions.
        finalLogits = await this.finalLayer(L, cachedZ);
        break;
      }
      const layer = this.perReceiver(L) ? await this.perReceiverLayer(L) : await this.plainLayer(L, cachedZ);
      this.keepDifferences(L, layer);
      this.resid = floats(layer.out.resid_out, 'resid_out');
      this.kResid = layer.kOut;
      this.layersRun++;
    }
    let logits = finalLogits ?? (this.logitsPatched ? await this.patchedLogits() : await plainLogits(this.m, this.resid, this.kResid, this.p.batch, this.p.seqLen, this.p.positions));
    if (logits.length / this.m.config.vocabSize !== this.K * gatherIndices(this.p.positions, this.p.batch, this.p.seqLen).length) {
      // Nothing was patched anywhere: every configuration is the base run.
      logits = repeat(logits, this.K);
    }
    return { logits, perReceiverLayers: this.perReceiverLayers };
  }

  private perReceiver(L: number): boolean {
    return this.layerPatched[L]! || this.p.alwaysPerReceiver;
  }

  /** Before any layer has run every configuration's rows are equal: configuration 0's serve all. */
  private kd(): number {
    return this.layersRun > 0 ? this.K : 1;
  }

  private dims(k: number): number[] {
    return [k, this.p.batch, this.p.seqLen, this.m.config.dModel];
  }

  /** Rows of the difference stack as a layer's diff input [kd, n, B, T, d] (zeros without a stack). */
  private diffRows(rows: readonly number[]): Feeds[string] {
    const { batch, seqLen } = this.p;
    const { dModel } = this.m.config;
    if (!this.stack) return f32(new Float32Array(rows.length * this.X), [1, rows.length, batch, seqLen, dModel]);
    return f32(this.stack.rows(this.kd(), rows), [this.kd(), rows.length, batch, seqLen, dModel]);
  }

  /**
   * The stream a layer's receivers start from when its patch term is taken from the kept edges'
   * side: this run's stream plus every earlier sender's difference, which is the source's stream
   * plus what mixing senders the run does not recompute added to it (their rows hold src - base).
   */
  private keptBase(L: number): Float32Array {
    const srcResid = this.p.src.residStart[L]!;
    const shift = this.premixShift;
    if (!shift) return srcResid;
    const { K, X } = this;
    const out = new Float32Array(K * X);
    for (let k = 0; k < K; k++) for (let i = 0; i < X; i++) out[k * X + i] = srcResid[i]! + shift[k * X + i]!;
    return out;
  }

  private srcFeeds(L: number): Feeds {
    const { nHeads, dHead } = this.m.config;
    const { src, batch, seqLen } = this.p;
    return { src_z: f32(src.z[L]!, [1, nHeads, batch, seqLen, dHead]), src_mlp: f32(src.mlp[L]!, this.dims(1)) };
  }

  private mixFeeds(L: number): Feeds {
    const g = this.m.graph;
    const { seqLen, mix } = this.p;
    const heads = Array.from({ length: this.m.config.nHeads }, (_, h) => g.layerSenderStart(L) + h);
    return {
      mix_heads: f32(mix.block(heads, seqLen), [this.K, seqLen, heads.length]),
      mix_mlp: f32(mix.block([g.mlpSender(L)], seqLen), [this.K, seqLen]),
    };
  }

  private zFeed(L: number, cachedZ: boolean): Feeds {
    const { nHeads, dHead } = this.m.config;
    const { base, batch, seqLen } = this.p;
    return cachedZ ? { z: f32(base.z[L]!, [1, nHeads, batch, seqLen, dHead]) } : {};
  }

  /** A layer's outputs: its stream, and with a stack its rows of it (in place for one configuration). */
  private fetchesFor(L: number, k: number): Fetches {
    const { nHeads, dModel } = this.m.config;
    const { batch, seqLen } = this.p;
    const stack = this.stack;
    const { X, scratch } = this;
    const resid_out = f32(new Float32Array(k * X), this.dims(k));
    if (!stack) return { resid_out };
    const sIn = this.m.graph.layerSenderStart(L);
    const sMlp = this.m.graph.mlpSender(L);
    const heads = scratch ? scratch.heads.subarray(0, k * nHeads * X) : stack.data.subarray(sIn * X, (sIn + nHeads) * X);
    const mlpDiff = scratch ? scratch.mlp.subarray(0, k * X) : stack.data.subarray(sMlp * X, (sMlp + 1) * X);
    return { resid_out, head_diff: f32(heads, [k, nHeads, batch * seqLen, dModel]), mlp_diff: f32(mlpDiff, this.dims(k)) };
  }

  /** Senders mixed before the first recomputed layer change the stream it starts from, per configuration. */
  private async mixBeforeStart(): Promise<void> {
    const { K, X } = this;
    const sStart = this.m.graph.layerSenderStart(this.p.startLayer);
    const premixed = Array.from({ length: sStart }, (_, s) => s).filter((s) => this.p.mix.mixes(s));
    if (premixed.length === 0) return;
    const shift = await this.mixShift(premixed);
    const r = new Float32Array(K * X);
    for (let k = 0; k < K; k++) {
      r.set(this.resid, k * X);
      for (let i = 0; i < X; i++) r[k * X + i]! += shift[k * X + i]!;
    }
    this.premixShift = shift;
    this.resid = r;
    this.kResid = K;
  }

  /**
   * sum_s w[k, t, s] (src_s - base_s) over the senders a run mixes but does not recompute (all
   * before the first recomputed layer), per configuration: [K, X]. From the sparser side: directly
   * over those senders, or as the difference of the two runs' streams at the first recomputed layer
   * (every sender before it) plus sum_s (w - 1) D_s over the senders not mixed with 1 at every
   * configuration and position. A late ACDC state mixes most senders with 1.
   */
  private async mixShift(premixed: readonly number[]): Promise<Float32Array> {
    const { src, base, mix, startLayer } = this.p;
    const stack = this.stack;
    const { batch, seqLen, dModel } = base;
    const { K, X } = this;
    const sStart = this.m.graph.layerSenderStart(startLayer);
    const shift = new Float32Array(K * X);
    const notOne = Array.from({ length: sStart }, (_, s) => s).filter((s) => {
      for (let k = 0; k < K; k++) for (let t = 0; t < seqLen; t++) if (mix.weight(k, t, s) !== 1) return true;
      return false;
    });
    const fromTotal = notOne.length < premixed.length;
    const rows = fromTotal ? notOne : premixed;
    // Without a stack the rows are formed here (heads once per layer).
    const formed = stack ? undefined : await this.m.senderRows.differenceRows(src, base, rows);
    const row = (s: number): Float32Array => (stack ? stack.data.subarray(s * X, (s + 1) * X) : formed!.get(s)!);
    if (fromTotal) {
      const a = src.residStart[startLayer]!;
      const b = base.residStart[startLayer]!;
      for (let k = 0; k < K; k++) for (let i = 0; i < X; i++) shift[k * X + i] = a[i]! - b[i]!;
    }
    for (const s of rows) {
      const d = row(s);
      for (let k = 0; k < K; k++) addScaled(shift, k * X, (t) => mix.weight(k, t, s) - (fromTotal ? 1 : 0), d, batch, seqLen, dModel);
    }
    return shift;
  }

  /** A layer no edge entry reaches: one shared stream, node patches mixed in at its senders' outputs. */
  private async plainLayer(L: number, cachedZ: boolean): Promise<LayerRun> {
    const { config, weights, graph, pool } = this.m;
    const stack = this.stack;
    // Without sender differences to keep, the layer need not form its senders one by one.
    const withMix = this.p.mix.mixesAny(graph.layerSenderStart(L), graph.mlpSender(L) + 1);
    const outputs: LayerOutputs = stack ? 'diffs' : 'stream';
    const feeds = { resid: f32(this.resid, this.dims(this.kResid)), ...this.zFeed(L, cachedZ), ...(withMix || stack ? this.srcFeeds(L) : {}), ...(withMix ? this.mixFeeds(L) : {}) };
    const kOut = withMix ? this.K : this.kResid;
    const build = () => buildPlainLayer(config, weights.layers[L]!, L, { mix: withMix, outputs, cachedZ });
    const out = await pool.run(plainKey(L, withMix, outputs, cachedZ), build, feeds, this.fetchesFor(L, kOut));
    return { out, kOut, mlpRuns: true };
  }

  /** A layer some edge entry reaches: each receiver's input is the stream plus its patch term. */
  private async perReceiverLayer(L: number): Promise<LayerRun> {
    const { config, weights, graph: g, pool } = this.m;
    const { nHeads } = config;
    const { src, mix, seqLen, masks } = this.p;
    const stack = this.stack;
    const { K, X, edges } = this;
    const sIn = g.layerSenderStart(L);
    const sMlp = g.mlpSender(L);
    const sStart = g.layerSenderStart(this.p.startLayer);
    const rAttn = g.layerReceiverStart(L);
    const rMlp = g.mlpReceiver(L);
    const headRows = Array.from({ length: nHeads }, (_, h) => sIn + h);
    // A head or MLP mixed with 1 everywhere carries the source's output to every receiver: what
    // it would compute is never read, so its receivers get no inputs (ACDC's late states).
    const unread = (s: number) => mix.mixes(s) && mix.mixesWhole(s);
    const live = headRows.filter((s) => !unread(s)).map((s) => s - sIn);
    const mlpRuns = !unread(sMlp);
    const someHeads = live.length < nHeads || !mlpRuns ? (live.length > 0 ? live : [0]) : undefined;
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
    const kept = stack && patched.length > 1 ? senders(1) : undefined;
    const fromKept = kept !== undefined && kept.length < patched.length;
    const rows = feedRows(fromKept ? kept : patched, this.kd(), headRecv.length + (mlpRuns ? 1 : 0));
    const pos = masks.perPosition ? [seqLen] : [];
    // From the kept side the entries are M - 1, over the kept senders only: a row fed only
    // because it lies in a viewed range gets 0 (it may hold a sender no side reads).
    const keptRows = fromKept ? new Set(kept) : undefined;
    const block = (r0: number, nR: number) => (keptRows ? keptMinusOne(edges.block(r0, nR, rows), rows, keptRows, nR) : edges.block(r0, nR, rows));
    const recvBase = fromKept ? this.keptBase(L) : this.resid;
    const common = {
      resid: f32(this.resid, this.dims(this.kResid)),
      diff: this.diffRows(rows),
      recv_base: f32(recvBase, this.dims(recvBase.length / X)),
      ...this.srcFeeds(L),
    };
    const maskAttn = block(rAttn, 3 * nHeads);
    if (someHeads) {
      const n = someHeads.length;
      const liveRows = someHeads.map((h) => sIn + h);
      const feeds: Feeds = {
        ...common,
        heads: i64(
          BigInt64Array.from(someHeads, (h) => BigInt(h)),
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
        src_attn: f32(await this.m.senderRows.attentionOf(src, L), this.dims(1)),
      };
      if (mlpRuns) {
        feeds.mask_mlp_prev = f32(block(rMlp, 1), [K, ...pos, rows.length]);
        feeds.mask_mlp_heads = f32(edges.block(rMlp, 1, liveRows), [K, ...pos, n]);
        feeds.mix_mlp = f32(mix.block([sMlp], seqLen), [K, seqLen]);
      }
      // As fetchesFor, but the computed heads' rows go through liveScratch, and an MLP that does not run has none.
      const fetches = this.fetchesFor(L, K);
      if (stack) {
        this.liveScratch ??= new Float32Array(K * nHeads * X);
        fetches.head_diff = f32(this.liveScratch.subarray(0, K * n * X), [K, n, this.p.batch * seqLen, config.dModel]);
        if (!mlpRuns) delete fetches.mlp_diff;
      }
      const build = () => buildPatchedLayerSomeHeads(config, weights.layers[L]!, L, this.mode, stack !== undefined, mlpRuns);
      const out = await pool.run(someHeadsKey(L, this.mode, stack !== undefined, mlpRuns), build, feeds, fetches);
      return { out, kOut: K, someHeads, mlpRuns };
    }
    const attnInput: AttentionInput = sameColumns(maskAttn, 3 * nHeads) ? 'shared' : 'per-receiver';
    const nAttn = attnInput === 'shared' ? 1 : 3 * nHeads;
    const feeds = {
      ...common,
      mask_attn: f32(attnInput === 'shared' ? firstColumn(maskAttn, 3 * nHeads) : maskAttn, [K, ...pos, rows.length, nAttn]),
      mask_mlp_prev: f32(block(rMlp, 1), [K, ...pos, rows.length]),
      mask_mlp_heads: f32(edges.block(rMlp, 1, headRows), [K, ...pos, nHeads]),
      ...this.mixFeeds(L),
    };
    const build = () => buildPatchedLayer(config, weights.layers[L]!, L, this.mode, attnInput, stack !== undefined);
    const out = await pool.run(patchedKey(L, this.mode, attnInput, stack !== undefined), build, feeds, this.fetchesFor(L, K));
    return { out, kOut: K, mlpRuns };
  }

  /**
   * Puts a layer's sender differences into every configuration of the stack where the layer did not
   * write them in place. Rows of heads that were not computed (and of an MLP that did not run)
   * carry the source's value everywhere: no side of any later patch term reads them (a view over a
   * range of rows gives them zero mask entries), so they are left as they are.
   */
  private keepDifferences(L: number, layer: LayerRun): void {
    const stack = this.stack;
    if (!stack) return;
    const { nHeads } = this.m.config;
    const S = this.m.graph.nSenders;
    const { K, X, scratch, liveScratch } = this;
    const sIn = this.m.graph.layerSenderStart(L);
    const sMlp = this.m.graph.mlpSender(L);
    const { someHeads, kOut } = layer;
    if (someHeads && liveScratch) {
      const n = someHeads.length;
      for (let k = 0; k < K; k++) {
        const slab = k * S * X;
        someHeads.forEach((h, i) => stack.data.set(liveScratch.subarray((k * n + i) * X, (k * n + i + 1) * X), slab + (sIn + h) * X));
      }
      if (scratch && layer.mlpRuns) spreadRows(stack.data, S, scratch.mlp.subarray(0, kOut * X), sMlp, 1, kOut, K, X);
    } else if (scratch) {
      spreadRows(stack.data, S, scratch.heads.subarray(0, kOut * nHeads * X), sIn, nHeads, kOut, K, X);
      spreadRows(stack.data, S, scratch.mlp.subarray(0, kOut * X), sMlp, 1, kOut, K, X);
    }
  }

  /** The last layer, final norm and unembedding at the gathered positions (buildFinalLayer). */
  private async finalLayer(L: number, cachedZ: boolean): Promise<Float32Array> {
    const { config, weights, graph, pool } = this.m;
    const { batch, seqLen, positions } = this.p;
    const mix = this.p.mix.mixesAny(graph.layerSenderStart(L), graph.mlpSender(L) + 1);
    const gather = gatherIndices(positions, batch, seqLen);
    const feeds: Feeds = {
      resid: f32(this.resid, this.dims(this.kResid)),
      gather: i64(gather, [gather.length]),
      ...this.zFeed(L, cachedZ),
      ...(mix ? { ...this.srcFeeds(L), ...this.mixFeeds(L) } : {}),
    };
    if (mix)
      feeds.gather_t = i64(
        gather.map((i) => i % BigInt(seqLen)),
        [gather.length],
      );
    const out = await pool.run(finalKey(mix, cachedZ), () => buildFinalLayer(config, weights, mix, cachedZ), feeds);
    return floats(out.logits, 'logits');
  }

  /** The logits receiver per receiver: the stream plus its patch term at the gathered positions. */
  private async patchedLogits(): Promise<Float32Array> {
    const { config, weights, graph, pool } = this.m;
    const { batch, seqLen, positions } = this.p;
    const gather = gatherIndices(positions, batch, seqLen);
    const rows = feedRows(this.edges.activeSenders(graph.logitsReceiver, 1), this.kd(), 1);
    const feeds = {
      resid: f32(this.resid, this.dims(this.kResid)),
      gather: i64(gather, [gather.length]),
      diff: this.diffRows(rows),
      mask: f32(logitsMask(this.edges, gather, seqLen, rows), [this.K, gather.length, rows.length]),
    };
    const out = await pool.run('logits:patched', () => buildLogits(config, weights, 'patched'), feeds);
    this.perReceiverLayers.push(config.nLayers);
    return floats(out.logits, 'logits');
  }
}

function repeat(x: Float32Array, k: number): Float32Array {
  const out = new Float32Array(x.length * k);
  for (let i = 0; i < k; i++) out.set(x, i * x.length);
  return out;
}
