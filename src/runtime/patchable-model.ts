// The runner everything else uses: clean and corrupted runs with a sender cache, and patched runs
// with K mask configurations in one pass, starting at the first layer any patch reaches.
import type ort from 'onnxruntime-node';
import { ComponentGraph } from '../graph/component-graph.js';
import type { LoadedModel, ModelConfig, ModelWeights } from '../model/types.js';
import { type SenderCache, sameShape } from './cache.js';
import { type LogitPositions, type RunInput, batchShape, gatherIndices, inputSender } from './inputs.js';
import { type AttentionInput, buildLogits, buildPatchedLayer, buildPlainForward, buildPlainLayer, type MaskMode } from './layer-graphs.js';
import type { EdgeMasks } from './masks.js';
import { NodeMixing } from './node-mixing.js';
import { type Fetches, SessionPool, type SessionOptions, f32, floats, i64 } from './sessions.js';
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
  private readonly pool: SessionPool;

  constructor(
    readonly model: LoadedModel,
    opts: SessionOptions = {},
  ) {
    this.config = model.config;
    this.weights = model.weights;
    checkAttentionShape(this.config);
    this.graph = ComponentGraph.forModel(this.config);
    this.pool = new SessionPool(opts);
  }

  /** Builds every session a run can need now, so that timings and progress exclude start-up. */
  async warm(modes: readonly MaskMode[] = ['all-positions']): Promise<void> {
    for (let L = 0; L < this.config.nLayers; L++) {
      for (const mix of [false, true]) {
        for (const senders of [false, true]) await this.pool.get(plainKey(L, mix, senders), () => buildPlainLayer(this.config, this.weights.layers[L]!, L, { mix, senders })).session;
      }
      for (const m of modes) {
        for (const a of ['per-receiver', 'shared'] as const) {
          await this.pool.get(`patched:${L}:${m}:${a}`, () => buildPatchedLayer(this.config, this.weights.layers[L]!, L, m, a)).session;
        }
      }
    }
    await this.pool.get('logits:plain', () => buildLogits(this.config, this.weights, 'plain')).session;
    await this.pool.get('logits:patched', () => buildLogits(this.config, this.weights, 'patched')).session;
  }

  /** A plain run that keeps every sender's output. */
  async run(input: RunInput, positions: LogitPositions = 'last'): Promise<RunResult> {
    const { batch, seqLen } = batchShape(input);
    const { nLayers, nHeads, dModel } = this.config;
    const X = batch * seqLen * dModel;
    const emb = inputSender(this.config, this.weights, input);
    const senders = new Float32Array(this.graph.nSenders * X);
    senders.set(emb, 0);
    const residStart: Float32Array[] = [emb];
    let resid = emb;
    for (let L = 0; L < nLayers; L++) {
      // ORT writes this layer's senders straight into their rows of the cache: no copies.
      const s0 = this.graph.layerSenderStart(L);
      const fetches = {
        heads: f32(senders.subarray(s0 * X, (s0 + nHeads) * X), [1, nHeads, batch * seqLen, dModel]),
        mlp: f32(senders.subarray(this.graph.mlpSender(L) * X, (this.graph.mlpSender(L) + 1) * X), [1, batch, seqLen, dModel]),
        resid_out: f32(new Float32Array(X), [1, batch, seqLen, dModel]),
      };
      const out = await this.plainLayer(L, resid, 1, batch, seqLen, fetches);
      resid = floats(out.resid_out, 'resid_out');
      residStart.push(resid);
    }
    const logits = await this.logitsPlain(resid, 1, batch, seqLen, positions);
    return { logits, cache: { batch, seqLen, dModel, senders, residStart } };
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

    let resid = base.residStart[startLayer]!;
    let kResid = 1;
    // src - cur of every sender, [K, S, X], made once per run and extended by each layer's outputs
    // (no layer re-subtracts the senders before it). Senders before the first recomputed layer
    // equal the base run's in every configuration: until the first layer has run, their one copy
    // [1, sStart, X] serves. A mixed sender's row is never read with a nonzero entry: M' is 0
    // wherever a sender is mixed.
    const S = g.nSenders;
    let diff: Float32Array | undefined;
    let prefixDiff: Float32Array | undefined;
    const prefix = (): Float32Array => (prefixDiff ??= subtract(src.senders, base.senders, sStart * X));
    const diffRows = (rows: readonly number[]): ort.Tensor => {
      if (diff) return f32(pickRows(diff, K, S, rows, X), [K, rows.length, batch, seqLen, dModel]);
      const one = needDiff ? pickRows(prefix(), 1, sStart, rows, X) : new Float32Array(rows.length * X);
      return f32(one, [1, rows.length, batch, seqLen, dModel]);
    };
    const initDiff = (): Float32Array => {
      const stack = new Float32Array(K * S * X);
      for (let k = 0; k < K; k++) stack.set(prefix(), k * S * X);
      return stack;
    };
    // The senders' differences summed over every sender before a layer, for layers whose patch term
    // is taken from the kept edges' side: the source's residual stream minus this run's, less what
    // mixing senders the run does not recompute added to it (their rows hold src - base).
    let premixShift: Float32Array | undefined;
    const zeroTotal = new Float32Array(X);
    const diffTotal = (L: number, stream: Float32Array, kStream: number): Float32Array => {
      const kt = premixShift ? K : kStream;
      const out = new Float32Array(kt * X);
      const srcResid = src.residStart[L]!;
      for (let k = 0; k < kt; k++) {
        const at = (kStream === 1 ? 0 : k) * X;
        for (let i = 0; i < X; i++) out[k * X + i] = srcResid[i]! - stream[at + i]! + (premixShift ? premixShift[k * X + i]! : 0);
      }
      return out;
    };
    const premixed = Array.from({ length: sStart }, (_, s) => s).filter((s) => mix.mixes(s));
    if (premixed.length > 0) {
      // Mixing senders the run does not recompute changes the residual stream it starts from, per configuration.
      const r = new Float32Array(K * X);
      premixShift = new Float32Array(K * X);
      for (let k = 0; k < K; k++) {
        r.set(resid, k * X);
        for (const s of premixed) addMixed(premixShift, k * X, mix, k, s, src.senders, base.senders, batch, seqLen, dModel);
        for (let i = 0; i < X; i++) r[k * X + i]! += premixShift[k * X + i]!;
      }
      resid = r;
      kResid = K;
    }
    // Output buffers reused by every layer (their rows become rows of the difference stack).
    const outHeads = new Float32Array(K * nHeads * X);
    const outMlp = new Float32Array(K * X);
    for (let L = startLayer; L < nLayers; L++) {
      const sIn = g.layerSenderStart(L);
      const sMlp = g.mlpSender(L);
      const headRows = Array.from({ length: nHeads }, (_, h) => sIn + h);
      const mixFeeds = () => ({
        src_heads: f32(src.senders.subarray(sIn * X, (sIn + nHeads) * X), [1, nHeads, batch, seqLen, dModel]),
        src_mlp: f32(src.senders.subarray(sMlp * X, (sMlp + 1) * X), [1, batch, seqLen, dModel]),
        mix_heads: f32(mix.block(headRows, seqLen), [K, seqLen, nHeads]),
        mix_mlp: f32(mix.block([sMlp], seqLen), [K, seqLen]),
      });
      // The plain layer gives its heads as [k, H, B*T, d]: the same values in the same order.
      const wide = (k: number, plain = false) => ({
        heads: f32(outHeads.subarray(0, k * nHeads * X), plain ? [k, nHeads, batch * seqLen, dModel] : [k, nHeads, batch, seqLen, dModel]),
        mlp: f32(outMlp.subarray(0, k * X), [k, batch, seqLen, dModel]),
        resid_out: f32(new Float32Array(k * X), [k, batch, seqLen, dModel]),
      });
      let out: Fetches;
      if (perReceiver(L)) {
        const rAttn = g.layerReceiverStart(L);
        const rMlp = g.mlpReceiver(L);
        // Only senders some mask entry reaches contribute a delta (a layer with none gets one zero
        // row); or, when fewer senders have an entry other than 1 (most edges patched), the term is
        // taken from the kept side: sum_s D_s + sum_s (M - 1) D_s over those senders only.
        const senders = (baseline: number) => {
          const set = new Set([...edges.activeSenders(rAttn, 3 * nHeads, baseline), ...edges.activeSenders(rMlp, 1, baseline).filter((s) => s < sIn)]);
          return [...set].sort((a, b) => a - b);
        };
        const patched = senders(0);
        const kept = needDiff && keptSideMayBeSmaller(patched.length, sIn) ? senders(1) : undefined;
        const fromKept = kept !== undefined && kept.length < patched.length;
        const rows = feedRows(fromKept ? kept : patched, diff ? K : 1);
        const pos = masks.perPosition ? [seqLen] : [];
        const block = (r0: number, nR: number) => (fromKept ? minusOne(edges.block(r0, nR, rows)) : edges.block(r0, nR, rows));
        const maskAttn = block(rAttn, 3 * nHeads);
        const attnInput: AttentionInput = sameColumns(maskAttn, 3 * nHeads) ? 'shared' : 'per-receiver';
        const nAttn = attnInput === 'shared' ? 1 : 3 * nHeads;
        const totalFeed = fromKept ? diffTotal(L, resid, kResid) : zeroTotal;
        const feeds = {
          resid: f32(resid, [kResid, batch, seqLen, dModel]),
          diff: diffRows(rows),
          diff_total: f32(totalFeed, [totalFeed.length / X, batch, seqLen, dModel]),
          mask_attn: f32(attnInput === 'shared' ? firstColumn(maskAttn, 3 * nHeads) : maskAttn, [K, ...pos, rows.length, nAttn]),
          mask_mlp_prev: f32(block(rMlp, 1), [K, ...pos, rows.length]),
          mask_mlp_heads: f32(edges.block(rMlp, 1, headRows), [K, ...pos, nHeads]),
          ...mixFeeds(),
        };
        const build = () => buildPatchedLayer(this.config, this.weights.layers[L]!, L, mode, attnInput);
        out = await this.pool.run(`patched:${L}:${mode}:${attnInput}`, build, feeds, wide(K));
      } else {
        // Without sender differences to keep, the layer need not form its senders one by one.
        const withMix = mix.mixesAny(sIn, sMlp + 1);
        const feeds = { resid: f32(resid, [kResid, batch, seqLen, dModel]), ...(withMix ? mixFeeds() : {}) };
        const kOut = withMix ? K : kResid;
        const fetches = needDiff ? wide(kOut, !withMix) : { resid_out: f32(new Float32Array(kOut * X), [kOut, batch, seqLen, dModel]) };
        const build = () => buildPlainLayer(this.config, this.weights.layers[L]!, L, { mix: withMix, senders: needDiff });
        out = await this.pool.run(plainKey(L, withMix, needDiff), build, feeds, fetches);
      }
      const kOut = floats(out.resid_out, 'resid_out').length / X;
      if (needDiff) {
        diff ??= initDiff();
        writeDiffs(diff, S, src.senders, outHeads.subarray(0, kOut * nHeads * X), sIn, nHeads, kOut, K, X);
        writeDiffs(diff, S, src.senders, outMlp.subarray(0, kOut * X), sMlp, 1, kOut, K, X);
      }
      resid = floats(out.resid_out, 'resid_out');
      kResid = kOut;
    }

    let logits: Float32Array;
    if (logitsPatched) {
      const gather = gatherIndices(positions, batch, seqLen);
      const rows = feedRows(edges.activeSenders(g.logitsReceiver, 1), diff ? K : 1);
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
    await this.pool.release();
  }

  private plainLayer(L: number, resid: Float32Array, k: number, batch: number, seqLen: number, fetches: Fetches): Promise<Fetches> {
    const feeds = { resid: f32(resid, [k, batch, seqLen, this.config.dModel]) };
    return this.pool.run(plainKey(L, false, true), () => buildPlainLayer(this.config, this.weights.layers[L]!, L), feeds, fetches);
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

function plainKey(L: number, mix: boolean, senders: boolean): string {
  return `plain${mix ? '-mix' : ''}${senders ? '' : '-stream'}:${L}`;
}

/**
 * Adds w (src_s - base_s) to the row [B, T, d] of `out` at `at`, w = the value configuration k mixes
 * sender s with at each position: node mixing of a sender the run does not recompute, into the
 * residual stream the run starts from.
 */
function addMixed(out: Float32Array, at: number, mix: NodeMixing, k: number, s: number, src: Float32Array, base: Float32Array, batch: number, seqLen: number, d: number): void {
  const X = batch * seqLen * d;
  for (let t = 0; t < seqLen; t++) {
    const w = mix.weight(k, t, s);
    if (w === 0) continue;
    for (let b = 0; b < batch; b++) {
      const o = (b * seqLen + t) * d;
      const from = s * X + o;
      for (let i = 0; i < d; i++) out[at + o + i]! += w * (src[from + i]! - base[from + i]!);
    }
  }
}

/**
 * The sender rows to feed for the `needed` ones (ascending), from a difference stack kd wide: with
 * kd = 1, their whole range when they fill a third of it (a view of the stack costs no copy, and
 * the rows between get zero mask entries), else just them; one zero-mask row when none is needed.
 */
function feedRows(needed: readonly number[], kd: number): readonly number[] {
  if (needed.length === 0) return [0];
  const lo = needed[0]!;
  const span = needed[needed.length - 1]! - lo + 1;
  if (kd === 1 && needed.length * 3 > span) return Array.from({ length: span }, (_, i) => lo + i);
  return needed;
}

/** Whether the kept side could need fewer sender rows than the `patched` ones of the `sIn` senders before a layer. */
function keptSideMayBeSmaller(patched: number, sIn: number): boolean {
  return patched > sIn / 2;
}

/** M - 1 for every entry of a mask block (all of them edges: senders before the layer). */
function minusOne(block: Float32Array): Float32Array {
  for (let i = 0; i < block.length; i++) block[i]! -= 1;
  return block;
}

/** Whether every row of a [rows, n] block holds one value (all n receivers see the same mask column). */
function sameColumns(block: Float32Array, n: number): boolean {
  for (let i = 0; i < block.length; i += n) {
    for (let j = 1; j < n; j++) if (block[i + j] !== block[i]) return false;
  }
  return true;
}

/** Column 0 of a [rows, n] block, as [rows, 1]. */
function firstColumn(block: Float32Array, n: number): Float32Array {
  const out = new Float32Array(block.length / n);
  for (let i = 0; i < out.length; i++) out[i] = block[i * n]!;
  return out;
}

/**
 * Writes src - out for n senders (out [kOut, n, X], kOut 1 or K; src [S, X]) into rows
 * [first, first + n) of a [K, S, X] difference stack.
 */
function writeDiffs(stack: Float32Array, S: number, src: Float32Array, out: Float32Array, first: number, n: number, kOut: number, K: number, X: number): void {
  const len = n * X;
  const s0 = first * X;
  for (let k = 0; k < K; k++) {
    const o = (kOut === 1 ? 0 : k) * len;
    const at = (k * S + first) * X;
    for (let i = 0; i < len; i++) stack[at + i] = src[s0 + i]! - out[o + i]!;
  }
}

/** a - b over the first n values. */
function subtract(a: Float32Array, b: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = a[i]! - b[i]!;
  return out;
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

/**
 * Rows `rows` of a stack [kc, S, X] as [kc, n, X]: a view when kc is 1 and the rows are
 * consecutive, else a copy (one block per configuration when they are consecutive).
 */
function pickRows(stack: Float32Array, kc: number, S: number, rows: readonly number[], X: number): Float32Array {
  const n = rows.length;
  const first = rows[0]!;
  const consecutive = rows[n - 1]! - first === n - 1;
  if (consecutive && kc === 1) return stack.subarray(first * X, (first + n) * X);
  const out = new Float32Array(kc * n * X);
  for (let k = 0; k < kc; k++) {
    if (consecutive) out.set(stack.subarray((k * S + first) * X, (k * S + first + n) * X), k * n * X);
    else rows.forEach((s, i) => out.set(stack.subarray((k * S + s) * X, (k * S + s + 1) * X), (k * n + i) * X));
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
