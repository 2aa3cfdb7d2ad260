// ONNX graphs of one transformer layer, of the final norm + unembedding, and of the whole plain
// model. The patchable runtime chains layer graphs (one graph, and one session, serves every layer:
// the weights are inputs) so that a patched run can start at any layer (prefix reuse) and so that
// layers no edge patch reaches run the cheap shared-input form (node patches are mixed in at the
// senders' outputs: see node-mixing.ts).
//
// Layouts: a stack of sender differences (src - cur) is [K, S, B, T, d] (config-major: the layout
// the delta matmul takes, no transpose); masks are [K, S_in, R_layer] or, per position, [K, T, S_in, R_layer].
import { type BuiltGraph, GraphBuilder, type GraphBuilderOptions } from './onnx/builder.js';
import { causalMask, dimOf, geluNew, norm, reshape, rope, ropeTables, silu, transpose, type NormParams } from './onnx/ops.js';
import type { LayerWeights, ModelConfig, ModelWeights, NormWeights, Tensor } from '../model/types.js';
import { expandKvHeads } from './weight-layouts.js';

/**
 * Weight names of a layer graph carry no layer index: its weights are inputs (onnx/builder.ts), so
 * the graphs of all layers of a model are one graph, and one session serves them all.
 */
const LAYER_PREFIX = 'layer.';

export type LayerVariant = 'plain' | 'patched';
export type MaskMode = 'all-positions' | 'per-position';
/**
 * How a patched layer forms its head receivers' inputs: each its own ('per-receiver'), or one for
 * all ('shared': when every q, k and v receiver of the layer has the same mask column, in every
 * configuration and position, e.g. none patched).
 */
export type AttentionInput = 'per-receiver' | 'shared';

interface LayerCtx {
  readonly g: GraphBuilder;
  readonly cfg: ModelConfig;
  readonly w: LayerWeights;
  /** Dynamic dims of the batch: B and T as 1-element int64 tensors. */
  readonly B: string;
  readonly T: string;
  readonly rope?: { cos: string; sin: string };
  /** The layer's index, for messages only: a layer graph is the same for every layer. */
  readonly layer: number;
}

function normOf(g: GraphBuilder, cfg: ModelConfig, nw: NormWeights, prefix: string): NormParams {
  return {
    kind: cfg.norm,
    weight: g.weight(`${prefix}.weight`, nw.weight.data, [cfg.dModel]),
    bias: nw.bias ? g.weight(`${prefix}.bias`, nw.bias.data, [cfg.dModel]) : undefined,
    eps: cfg.normEps,
  };
}

function ropeInit(g: GraphBuilder, cfg: ModelConfig): { cos: string; sin: string } | undefined {
  if (cfg.positional !== 'rope') return undefined;
  const t = ropeTables(cfg.maxPositions, cfg.dHead, cfg.ropeTheta);
  return {
    cos: g.constant('rope.cos', t.cos, [cfg.maxPositions, cfg.dHead]),
    sin: g.constant('rope.sin', t.sin, [cfg.maxPositions, cfg.dHead]),
  };
}

/** Causal attention of q, k, v [Kx, H, B, T, dh] (RoPE applied here); returns z [Kx, H, B, T, dh]. */
function attention(c: LayerCtx, q: string, k: string, v: string): string {
  const { g, cfg } = c;
  let qr = q;
  let kr = k;
  if (c.rope) {
    qr = rope(g, q, c.rope.cos, c.rope.sin, c.T, cfg.dHead);
    kr = rope(g, k, c.rope.cos, c.rope.sin, c.T, cfg.dHead);
  }
  const scores = g.op('Mul', [g.op('MatMul', [qr, transpose(g, kr, [0, 1, 2, 4, 3])]), g.scalar(1 / Math.sqrt(cfg.dHead))]);
  const probs = g.op('Softmax', [g.op('Add', [scores, causalMask(g, c.T)])], { axis: -1 });
  return g.op('MatMul', [probs, v]);
}

/**
 * Per-head sender outputs z_h W_O[h] of z [Kx, H, B, T, dh]: [Kx, H, B*T, d], the product's own
 * layout (a graph output in it is written by the product: no copy). No output bias: a constant, in
 * the stream. Formed only where full-width differences are needed (edge patches).
 */
function headOutputs(c: LayerCtx, z: string, p: string, heads?: string): string {
  const { g, cfg } = c;
  const wo = someHeads(g, g.weight(`${p}wo`, c.w.wo.data, [cfg.nHeads, cfg.dHead, cfg.dModel]), heads);
  return g.op('MatMul', [reshape(g, z, [0, 0, -1, cfg.dHead]), wo]);
}

/**
 * sum_h z_h W_O[h] of z [Kx, H, B, T, dh] as one product with the fused W_O: [Kx, B, T, d]. With
 * `heads` [H'] (int64), z holds those heads only, and the product uses their rows of W_O.
 */
function attentionOutput(c: LayerCtx, z: string, p: string, heads?: string): string {
  const { g, cfg } = c;
  const merged = reshape(g, transpose(g, z, [0, 2, 3, 1, 4]), [0, 0, 0, -1]); // [Kx, B, T, H dh]
  const wo = heads
    ? reshape(g, someHeads(g, g.weight(`${p}wo`, c.w.wo.data, [cfg.nHeads, cfg.dHead, cfg.dModel]), heads), [-1, cfg.dModel])
    : g.weight(`${p}wo_fused`, c.w.wo.data, [cfg.nHeads * cfg.dHead, cfg.dModel]);
  return g.op('MatMul', [merged, wo]);
}

/** A per-head weight [H, ...]: as is, or the rows of `heads` [H'] (int64) only. */
function someHeads(g: GraphBuilder, weight: string, heads: string | undefined): string {
  return heads ? g.op('Gather', [weight, heads], { axis: 0 }) : weight;
}

/** The MLP's sender output (no output bias) from its normalised input x [..., d]. */
function mlp(c: LayerCtx, x: string, p: string): string {
  const { g, cfg, w } = c;
  const wIn = g.weight(`${p}w_in`, w.wIn.data, [cfg.dModel, cfg.dMlp]);
  const wOut = g.weight(`${p}w_out`, w.wOut.data, [cfg.dMlp, cfg.dModel]);
  let up = g.op('MatMul', [x, wIn]);
  if (w.bIn) up = g.op('Add', [up, g.weight(`${p}b_in`, w.bIn.data, [cfg.dMlp])]);
  let hidden: string;
  if (cfg.mlp === 'swiglu') {
    if (!w.wGate) throw new Error(`${cfg.name}: layer ${c.layer} is SwiGLU but has no gate weight`);
    const gate = g.op('MatMul', [x, g.weight(`${p}w_gate`, w.wGate.data, [cfg.dModel, cfg.dMlp])]);
    hidden = g.op('Mul', [silu(g, gate), up]);
  } else {
    hidden = geluNew(g, up);
  }
  return g.op('MatMul', [hidden, wOut]);
}

function addBias(g: GraphBuilder, x: string, bias: Float32Array | undefined, name: string, dims: number[]): string {
  return bias ? g.op('Add', [x, g.weight(name, bias, dims)]) : x;
}

/**
 * q, k, v [Kr, H, B, T, dh] from one shared normalised input x [Kr, B, T, d]: one product per
 * channel with the heads' own [n, d, dh] weights, whose output is already head-major. (A fused
 * [d, 3 d] copy of the weights was no faster, and cost one more copy of them: 1.46 GB on GPT-2 XL.)
 */
function sharedQkv(c: LayerCtx, x: string, p: string): [string, string, string] {
  const { g, cfg, w } = c;
  const rows = reshape(g, x, [0, 1, -1, cfg.dModel]); // [Kr, 1, B*T, d]
  const project = (wt: Tensor, b: Tensor | undefined, name: string, n: number) => {
    const y = g.op('MatMul', [rows, g.weight(`${p}${name}`, wt.data, [n, cfg.dModel, cfg.dHead])]);
    return reshape(g, addBias(g, y, b?.data, `${p}b${name}`, [n, 1, cfg.dHead]), [0, 0, c.B, c.T, cfg.dHead]);
  };
  const q = project(w.wq, w.bq, 'wq', cfg.nHeads);
  let k = project(w.wk, w.bk, 'wk', cfg.nKvHeads);
  let v = project(w.wv, w.bv, 'wv', cfg.nKvHeads);
  const group = cfg.nHeads / cfg.nKvHeads;
  if (group > 1) {
    // Repeat each kv head for the query heads of its group: [Kr, Hkv, B, T, dh] -> [Kr, H, B, T, dh].
    const expand = (t: string) => {
      const e = g.op('Expand', [g.op('Unsqueeze', [t, g.ints([2])]), g.ints([1, 1, group, 1, 1, 1])]);
      const kr = dimOf(g, t, 0);
      return reshape(g, e, [kr, cfg.nHeads, c.B, c.T, cfg.dHead]);
    };
    k = expand(k);
    v = expand(v);
  }
  return [q, k, v];
}

/**
 * q, k, v [K, H', B, T, dh] from per-receiver normalised inputs xn [K, 3H' (+1), B, T, d] in
 * channel-major order (q of every head, then k, then v; then the MLP's row when `mlpRow`). One
 * batched product projects them all, each row by its head's weights (the MLP's row by zeros):
 * q, k and v are then slices of its small output, where picking them out of xn would copy 3H'
 * full-width rows. With `heads` [H'] (int64), those heads' weights; else every head's (H' = H).
 */
function perHeadQkv(c: LayerCtx, xn: string, p: string, mlpRow: boolean, heads?: string): [string, string, string] {
  const { g, cfg, w } = c;
  const dims = [cfg.nHeads, cfg.dModel, cfg.dHead];
  const expandBias = (b: LayerWeights['bk']) => (b ? expandKvHeads(b, cfg) : undefined);
  const channels: [Float32Array, Float32Array | undefined, string][] = [
    [w.wq.data, w.bq?.data, 'wq'],
    [expandKvHeads(w.wk, cfg), expandBias(w.bk), 'wk'],
    [expandKvHeads(w.wv, cfg), expandBias(w.bv), 'wv'],
  ];
  const stacked = (parts: string[], zeroRow: readonly number[], name: string) =>
    g.op('Concat', mlpRow ? [...parts, g.constant(name, new Float32Array(zeroRow.reduce((a, b) => a * b, 1)), zeroRow)] : parts, { axis: 0 });
  const weights = stacked(
    channels.map(([wt, , name]) => someHeads(g, g.weight(`${p}${name}`, wt, dims), heads)),
    [1, cfg.dModel, cfg.dHead],
    'zero_head_weight',
  );
  let y = g.op('MatMul', [reshape(g, xn, [0, 0, -1, cfg.dModel]), weights]); // [K, 3H' (+1), B*T, dh]
  if (channels.some(([, b]) => b)) {
    // A channel without a bias (some models have k without one) adds zeros.
    const biasDims = [cfg.nHeads, 1, cfg.dHead];
    const biases = channels.map(([, b, name]) => someHeads(g, b ? g.weight(`${p}b${name}`, b, biasDims) : g.constant(`zero_${name}_bias`, new Float32Array(cfg.nHeads * cfg.dHead), biasDims), heads));
    y = g.op('Add', [y, stacked(biases, [1, 1, cfg.dHead], 'zero_head_bias')]);
  }
  const n = heads ? dimOf(g, heads, 0) : g.ints([cfg.nHeads]);
  const channel = (j: number) => {
    const from = j === 0 ? g.ints([0]) : g.op('Mul', [n, g.ints([j])]);
    const to = g.op('Mul', [n, g.ints([j + 1])]);
    return reshape(g, g.op('Slice', [y, from, to, g.ints([1])]), [0, 0, c.B, c.T, cfg.dHead]);
  };
  return [channel(0), channel(1), channel(2)];
}

/** Gathers receiver columns (last axis of a mask) into channel-major order (see perHeadQkv). */
function channelMajor(g: GraphBuilder, mask: string, order: string): string {
  return g.op('Gather', [mask, order], { axis: -1 });
}

/**
 * Patch deltas sum_s M[k, s, r] (src_s - cur_s) for a group of receivers, from D = src - cur laid
 * out [Kx, S, B, T, d] and masks [K, S, R] (or [K, T, S, R]). Returns [K, R, B, T, d].
 */
function patchDelta(c: LayerCtx, D: string, mask: string, mode: MaskMode, nRecv: number | string): string {
  const { g, cfg } = c;
  if (mode === 'all-positions') {
    const delta = g.op('MatMul', [transpose(g, mask, [0, 2, 1]), reshape(g, D, [0, 0, -1])]); // [K, R, X]
    return reshape(g, delta, [0, nRecv, c.B, c.T, cfg.dModel]);
  }
  const d = reshape(g, transpose(g, D, [0, 3, 1, 2, 4]), [0, 0, 0, -1]); // [Kx, T, S, B*d]
  const delta = g.op('MatMul', [transpose(g, mask, [0, 1, 3, 2]), d]); // [K, T, R, B*d]
  return transpose(g, reshape(g, delta, [0, 0, nRecv, c.B, cfg.dModel]), [0, 2, 3, 1, 4]);
}

/** A layer's context; without attention (z given) it needs no RoPE tables. */
function layerCtx(g: GraphBuilder, cfg: ModelConfig, w: LayerWeights, resid: string, layer: number, withAttention = true): LayerCtx {
  return { g, cfg, w, B: dimOf(g, resid, 1), T: dimOf(g, resid, 2), rope: withAttention ? ropeInit(g, cfg) : undefined, layer };
}

/** Per-head values v [K, T, H] (mixing values, mask columns) broadcast against z: [K, H, 1, T, 1]. */
function perHeadScale(g: GraphBuilder, v: string): string {
  return g.op('Unsqueeze', [transpose(g, v, [0, 2, 1]), g.ints([2, 4])]);
}

/**
 * Node mixing (node-mixing.ts) of a layer's heads, done on z (a head's output is linear in its z):
 * z + v (src_z - z), v [K, T, H] per configuration, position and head. Returns the mixed z
 * [K, H, B, T, dh] and src_z - z (unmixed).
 */
function mixZ(g: GraphBuilder, z: string, srcZ: string, v: string): { mixed: string; diff: string } {
  const diff = g.op('Sub', [srcZ, z]);
  return { mixed: g.op('Add', [z, g.op('Mul', [perHeadScale(g, v), diff])]), diff };
}

/** Node mixing of a layer's MLP output: m + v (src - m), v [K, T]. */
function mixMlp(g: GraphBuilder, m: string, srcMlp: string, v: string): string {
  const vm = g.op('Unsqueeze', [v, g.ints([1, 3])]); // [K, 1, T, 1]
  return g.op('Add', [m, g.op('Mul', [vm, g.op('Sub', [srcMlp, m])])]);
}

/** The patch source's outputs of the layer's own senders: its z and its MLP output. */
function sourceInputs(g: GraphBuilder, cfg: ModelConfig): { srcZ: string; srcMlp: string } {
  return {
    srcZ: g.input('src_z', 'float32', [1, cfg.nHeads, 'b', 't', cfg.dHead]),
    srcMlp: g.input('src_mlp', 'float32', [1, 'b', 't', cfg.dModel]),
  };
}

/** The mixing values of node mixing: [K, T, H] for the heads, [K, T] for the MLP. */
function mixInputs(g: GraphBuilder, cfg: ModelConfig): { mixH: string; mixM: string } {
  return { mixH: g.input('mix_heads', 'float32', ['k', 't', cfg.nHeads]), mixM: g.input('mix_mlp', 'float32', ['k', 't']) };
}

/**
 * head_diff [Kx, H, B*T, d] = (src_z - z) W_O per head: the stack rows of a layer's heads
 * (LayerOutputs); with `heads` [H'], of those heads only ([Kx, H', B*T, d]).
 */
function outputHeadDiff(c: LayerCtx, z: string, srcZ: string, p: string, kDim: string, heads?: string): string {
  const headDiff = headOutputs(c, c.g.op('Sub', [srcZ, z]), p, heads);
  c.g.output(headDiff, 'head_diff', 'float32', [kDim, heads ? 'h' : c.cfg.nHeads, 'bt', c.cfg.dModel]);
  return headDiff;
}

/** mlp_diff [Kx, B, T, d] = src_mlp - m: the stack row of a layer's MLP. */
function outputMlpDiff(c: LayerCtx, m: string, srcMlp: string, kDim: string): void {
  c.g.output(c.g.op('Sub', [srcMlp, m]), 'mlp_diff', 'float32', [kDim, 'b', 't', c.cfg.dModel]);
}

/**
 * What a layer graph outputs besides the residual stream resid_out: 'cache', its senders in the
 * compact form a cached run keeps (z [Kx, H, B, T, dh], mlp [Kx, B, T, d]); 'diffs', the patch
 * source's minus its senders' outputs, full width (head_diff, mlp_diff: the rows of a difference
 * stack); 'stream', nothing else.
 */
export type LayerOutputs = 'cache' | 'diffs' | 'stream';

export interface PlainLayerForm {
  /** Node-mix the layer's own senders (inputs src_z, src_mlp, mix_heads, mix_mlp). */
  readonly mix?: boolean;
  /** Default 'cache'. */
  readonly outputs?: LayerOutputs;
  /**
   * Take the heads' z from input z [1, H, B, T, dh] (the base run's, whose stream resid is) instead
   * of computing attention: the first layer of a patched run that no edge reaches.
   */
  readonly cachedZ?: boolean;
}

/** z [Kx, H, B, T, dh] of a layer: computed from resid, or the input z of a run that has it. */
function layerZ(c: LayerCtx, resid: string, cached: boolean): string {
  const { g, cfg, w } = c;
  if (cached) return g.input('z', 'float32', [1, cfg.nHeads, 'b', 't', cfg.dHead]);
  const [q, k, v] = sharedQkv(c, norm(g, resid, normOf(g, cfg, w.ln1, `${LAYER_PREFIX}ln1`)), LAYER_PREFIX);
  return attention(c, q, k, v);
}

/**
 * One layer whose receivers all read the shared residual stream (no edge patch reaches them): the
 * plain layer, attention output as one product with the fused W_O. In: resid [Kr, B, T, d]. The
 * mix form also node-mixes the layer's own senders before anything reads them: in
 * src_z [1, H, B, T, dh], src_mlp [1, B, T, d], mix_heads [K, T, H], mix_mlp [K, T]; out K-wide.
 * The diffs form reads src_z and src_mlp too. Outputs as LayerOutputs says.
 */
export function buildPlainLayer(cfg: ModelConfig, w: LayerWeights, L: number, form: PlainLayerForm = {}): BuiltGraph {
  const mix = form.mix ?? false;
  const outputs = form.outputs ?? 'cache';
  const cachedZ = form.cachedZ ?? false;
  if (cachedZ && outputs === 'cache') throw new Error('a layer that takes its z as input has no cache to make');
  const g = new GraphBuilder(`layer_plain${mix ? '_mix' : ''}_${outputs}${cachedZ ? '_cached_z' : ''}`);
  const p = LAYER_PREFIX;
  const d = cfg.dModel;
  const resid = g.input('resid', 'float32', ['kr', 'b', 't', d]);
  const src = mix || outputs === 'diffs' ? sourceInputs(g, cfg) : undefined;
  const mi = mix ? mixInputs(g, cfg) : undefined;
  const c = layerCtx(g, cfg, w, resid, L, !cachedZ);
  let z = layerZ(c, resid, cachedZ);
  if (mi && src) z = mixZ(g, z, src.srcZ, mi.mixH).mixed;
  let mid = g.op('Add', [resid, attentionOutput(c, z, p)]);
  mid = addBias(g, mid, w.bo?.data, `${p}bo`, [d]);
  let m = mlp(c, norm(g, mid, normOf(g, cfg, w.ln2, `${p}ln2`)), p);
  if (mi && src) m = mixMlp(g, m, src.srcMlp, mi.mixM);
  const out = addBias(g, g.op('Add', [mid, m]), w.bOut?.data, `${p}b_out`, [d]);
  const kDim = mix ? 'k' : 'kr';
  if (outputs === 'cache') {
    g.output(z, 'z', 'float32', [kDim, cfg.nHeads, 'b', 't', cfg.dHead]);
    g.output(m, 'mlp', 'float32', [kDim, 'b', 't', d]);
  } else if (outputs === 'diffs' && src) {
    outputHeadDiff(c, z, src.srcZ, p, kDim);
    outputMlpDiff(c, m, src.srcMlp, kDim);
  }
  g.output(out, 'resid_out', 'float32', [kDim, 'b', 't', d]);
  return g.build();
}

/**
 * The MLP receiver's delta from its own layer's heads, sum_h M_h (src_h - heads_h), M_h from
 * mask_mlp_heads [K, (T,) H]. With `diffs` the stack's rows of the heads are made anyway (head_diff:
 * src - mixed heads, the same where M_h is not 0, output here) and the delta is a product over
 * them; else it is one product with W_O of the masked z differences dz. `heads`: the computed
 * heads only (z, srcZ and dz hold those).
 */
function mlpDeltaFromHeads(c: LayerCtx, zs: { z: string; srcZ: string; dz: string }, maskMlpHeads: string, mode: MaskMode, diffs: boolean, heads?: string): string {
  const { g, cfg } = c;
  if (diffs) {
    const hd = reshape(g, outputHeadDiff(c, zs.z, zs.srcZ, LAYER_PREFIX, 'k', heads), [0, 0, c.B, c.T, cfg.dModel]);
    return g.op('Squeeze', [patchDelta(c, hd, g.op('Unsqueeze', [maskMlpHeads, g.ints([-1])]), mode, 1), g.ints([1])]);
  }
  const maskHeads = mode === 'per-position' ? perHeadScale(g, maskMlpHeads) : g.op('Unsqueeze', [maskMlpHeads, g.ints([2, 3, 4])]);
  return attentionOutput(c, g.op('Mul', [maskHeads, zs.dz]), LAYER_PREFIX, heads);
}

/**
 * A per-receiver layer's MLP output, node-mixed: its input is the stream after attention (mid) plus
 * the delta from senders before the layer (rowMlp), plus recv_base - resid (0, or the earlier
 * senders' differences for a patch term from the kept side), plus the delta from the layer's heads.
 */
function patchedMlp(c: LayerCtx, x: { mid: string; rowMlp: string; recvBase: string; resid: string; deltaHeads: string; srcMlp: string; mixM: string }): string {
  const { g, cfg, w } = c;
  const xm = g.op('Add', [x.mid, g.op('Add', [g.op('Add', [x.rowMlp, g.op('Sub', [x.recvBase, x.resid])]), x.deltaHeads])]);
  return mixMlp(g, mlp(c, norm(g, xm, normOf(g, cfg, w.ln2, `${LAYER_PREFIX}ln2`)), LAYER_PREFIX), x.srcMlp, x.mixM);
}

/**
 * One layer whose receivers each get their own patched input. In: resid [Kr, B, T, d];
 * diff [Kd, A, B, T, d]: the patch source's minus this run's outputs of the A senders before the
 * layer that some mask entry reaches (the runtime passes only those: a sender no mask reaches adds
 * nothing); recv_base [Kt, B, T, d]: the stream every receiver's input starts from, before the
 * patch term: resid, or, when the masks given are M - 1 (the patch term from the kept edges' side,
 * sum_s M D_s = sum_s D_s + sum_s (M - 1) D_s), resid plus every earlier sender's difference, i.e.
 * the source run's stream (plus what the run mixed in before its first layer); src_z, src_mlp: the
 * source's outputs of this layer's senders; mask_attn [K, A, 3H] ([K, A, 1] with a shared attention
 * input), mask_mlp_prev [K, A], mask_mlp_heads [K, H] (each with a T axis after K for per-position
 * masks); mix_heads, mix_mlp: node mixing of the layer's own senders, as in buildPlainLayer's mix
 * form (mask_mlp_heads must be 0 wherever mix_heads is not: the runtime moves mixed senders out of
 * the masks). Out: resid_out [K, B, T, d], and with `diffs` head_diff and mlp_diff (LayerOutputs).
 */
export function buildPatchedLayer(cfg: ModelConfig, w: LayerWeights, L: number, mode: MaskMode, attnInput: AttentionInput = 'per-receiver', diffs = true): BuiltGraph {
  const g = new GraphBuilder(`layer_patched_${mode}_${attnInput}${diffs ? '_diffs' : ''}`);
  const shared = attnInput === 'shared';
  const p = LAYER_PREFIX;
  const H = cfg.nHeads;
  const d = cfg.dModel;
  const resid = g.input('resid', 'float32', ['kr', 'b', 't', d]);
  const dPrev = g.input('diff', 'float32', ['kd', 's', 'b', 't', d]);
  const recvBase = g.input('recv_base', 'float32', ['kt', 'b', 't', d]);
  const pos = mode === 'per-position' ? ['t'] : [];
  const nAttn = shared ? 1 : 3 * H;
  const maskAttn = g.input('mask_attn', 'float32', ['k', ...pos, 's', nAttn]);
  const maskMlpPrev = g.input('mask_mlp_prev', 'float32', ['k', ...pos, 's']);
  const maskMlpHeads = g.input('mask_mlp_heads', 'float32', ['k', ...pos, H]);
  const src = sourceInputs(g, cfg);
  const mi = mixInputs(g, cfg);
  const c = layerCtx(g, cfg, w, resid, L);

  // The deltas of the senders before the layer into the head receivers and into the MLP, in one
  // matmul (one pass over the differences): receiver columns [head receivers..., MLP].
  // Per-receiver head columns in channel-major order (receiver 3h + j, channel j of head h, goes to
  // column jH + h; see perHeadQkv), the MLP's last.
  const order = [0, 1, 2].flatMap((j) => Array.from({ length: H }, (_, h) => 3 * h + j)).concat([3 * H]);
  const maskBoth = g.op('Concat', [maskAttn, g.op('Unsqueeze', [maskMlpPrev, g.ints([-1])])], { axis: -1 });
  const maskPrev = shared ? maskBoth : channelMajor(g, maskBoth, g.ints(order));
  const deltaPrev = patchDelta(c, dPrev, maskPrev, mode, nAttn + 1); // [K, nAttn + 1, B, T, d]
  const row = (i: number) => g.op('Squeeze', [g.op('Slice', [deltaPrev, g.ints([i]), g.ints([i + 1]), g.ints([1])]), g.ints([1])]);
  let q: string, k: string, v: string;
  if (shared) {
    // One input for every head receiver: one delta, one norm, one product per channel.
    [q, k, v] = sharedQkv(c, norm(g, g.op('Add', [recvBase, row(0)]), normOf(g, cfg, w.ln1, `${p}ln1`)), p);
  } else {
    // Head inputs: resid + delta for each of the 3H receivers, normalised one by one (the MLP's
    // row along, projected by zeros).
    const x = g.op('Add', [g.op('Unsqueeze', [recvBase, g.ints([1])]), deltaPrev]);
    [q, k, v] = perHeadQkv(c, norm(g, x, normOf(g, cfg, w.ln1, `${p}ln1`)), p, true);
  }
  // Mixed heads feed the stream; the unmixed src_z - z is exact for the MLP's delta, since its
  // mask is 0 wherever a head is mixed (and the mixing value 0 where it is not).
  const { mixed: z, diff: dz } = mixZ(g, attention(c, q, k, v), src.srcZ, mi.mixH); // [K, H, B, T, dh]
  let mid = g.op('Add', [resid, attentionOutput(c, z, p)]);
  mid = addBias(g, mid, w.bo?.data, `${p}bo`, [d]);

  const deltaHeads = mlpDeltaFromHeads(c, { z, srcZ: src.srcZ, dz }, maskMlpHeads, mode, diffs);
  const m = patchedMlp(c, { mid, rowMlp: row(nAttn), recvBase, resid, deltaHeads, srcMlp: src.srcMlp, mixM: mi.mixM });
  const out = addBias(g, g.op('Add', [mid, m]), w.bOut?.data, `${p}b_out`, [d]);
  if (diffs) outputMlpDiff(c, m, src.srcMlp, 'k');
  g.output(out, 'resid_out', 'float32', ['k', 'b', 't', d]);
  return g.build();
}

/**
 * buildPatchedLayer's per-receiver form for a layer some of whose senders no edge reads: heads (and
 * an MLP) mixed with 1 everywhere carry the source's output to every receiver, so what they would
 * compute is never read. Only the heads in `heads` [H'] (int64, ascending) get receiver inputs,
 * norms, projections and attention; the rest contribute their source values, through src_attn
 * [1, B, T, d] (the source's attention output, no bias, which the caller keeps per cache). Without
 * `mlpRuns` the MLP is not computed either (its output is src_mlp). Inputs as buildPatchedLayer's
 * per-receiver form, with mask_attn [K, A, 3H'] (receiver 3i + j: q, k, v of the i-th head of
 * `heads`), pick [3, H'] (the rows 3i + j of each channel j), mask_mlp_heads and mix_heads over
 * those heads only, and without mask_mlp_prev and mix_mlp when the MLP does not run. With `diffs`,
 * head_diff [K, H', B*T, d] holds those heads' rows only, and mlp_diff is output only when the MLP
 * runs (the other rows of the stack are 0: the runtime writes them).
 */
export function buildPatchedLayerSomeHeads(cfg: ModelConfig, w: LayerWeights, L: number, mode: MaskMode, diffs: boolean, mlpRuns: boolean): BuiltGraph {
  const g = new GraphBuilder(`layer_patched_some_${mode}${diffs ? '_diffs' : ''}${mlpRuns ? '' : '_no_mlp'}`);
  const p = LAYER_PREFIX;
  const d = cfg.dModel;
  const resid = g.input('resid', 'float32', ['kr', 'b', 't', d]);
  const dPrev = g.input('diff', 'float32', ['kd', 's', 'b', 't', d]);
  const recvBase = g.input('recv_base', 'float32', ['kt', 'b', 't', d]);
  const heads = g.input('heads', 'int64', ['h']);
  const pickRows = g.input('pick', 'int64', [3, 'h']);
  const pos = mode === 'per-position' ? ['t'] : [];
  const maskAttn = g.input('mask_attn', 'float32', ['k', ...pos, 's', 'r']);
  const src = sourceInputs(g, cfg);
  const srcAttn = g.input('src_attn', 'float32', [1, 'b', 't', d]);
  const mixH = g.input('mix_heads', 'float32', ['k', 't', 'h']);
  const c = layerCtx(g, cfg, w, resid, L);
  const nRecv = dimOf(g, maskAttn, mode === 'per-position' ? 3 : 2);

  // Receiver inputs of the computed heads (and the MLP's, as the last column, when it runs).
  const maskMlpPrev = mlpRuns ? g.input('mask_mlp_prev', 'float32', ['k', ...pos, 's']) : undefined;
  // Columns in channel-major order (perHeadQkv): pick's rows, channel by channel, then the MLP's.
  const maskBoth = maskMlpPrev ? g.op('Concat', [maskAttn, g.op('Unsqueeze', [maskMlpPrev, g.ints([-1])])], { axis: -1 }) : maskAttn;
  const picked = reshape(g, pickRows, [-1]);
  const order = maskMlpPrev ? g.op('Concat', [picked, nRecv], { axis: 0 }) : picked;
  const nCols = maskMlpPrev ? g.op('Add', [nRecv, g.ints([1])]) : nRecv;
  const deltaPrev = patchDelta(c, dPrev, channelMajor(g, maskBoth, order), mode, nCols); // [K, 3H' (+1), B, T, d]
  const x = g.op('Add', [g.op('Unsqueeze', [recvBase, g.ints([1])]), deltaPrev]);
  const [q, k, v] = perHeadQkv(c, norm(g, x, normOf(g, cfg, w.ln1, `${p}ln1`)), p, mlpRuns, heads);
  const srcZ = g.op('Gather', [src.srcZ, heads], { axis: 1 }); // [1, H', B, T, dh]
  const { mixed: z, diff: dz } = mixZ(g, attention(c, q, k, v), srcZ, mixH);
  // sum over every head: the source's attention output, plus (z - src_z) W_O[h] of the computed ones.
  const attnOut = g.op('Add', [srcAttn, attentionOutput(c, g.op('Sub', [z, srcZ]), p, heads)]);
  const mid = addBias(g, g.op('Add', [resid, attnOut]), w.bo?.data, `${p}bo`, [d]);
  let m: string;
  if (mlpRuns) {
    const mixM = g.input('mix_mlp', 'float32', ['k', 't']);
    const maskMlpHeads = g.input('mask_mlp_heads', 'float32', ['k', ...pos, 'h']);
    const deltaHeads = mlpDeltaFromHeads(c, { z, srcZ, dz }, maskMlpHeads, mode, diffs, heads);
    const rowMlp = g.op('Squeeze', [g.op('Gather', [deltaPrev, g.op('Sub', [nCols, g.ints([1])])], { axis: 1 }), g.ints([1])]);
    m = patchedMlp(c, { mid, rowMlp, recvBase, resid, deltaHeads, srcMlp: src.srcMlp, mixM });
    if (diffs) outputMlpDiff(c, m, src.srcMlp, 'k');
  } else {
    if (diffs) outputHeadDiff(c, z, srcZ, p, 'k', heads);
    m = src.srcMlp;
  }
  const out = addBias(g, g.op('Add', [mid, m]), w.bOut?.data, `${p}b_out`, [d]);
  g.output(out, 'resid_out', 'float32', ['k', 'b', 't', d]);
  return g.build();
}

/**
 * The last layer fused with the final norm and unembedding, for a run that keeps none of its
 * senders: only the gathered positions reach the logits, so after attention (whose keys and values
 * need every position) the layer runs on those N rows only. In: resid [Kr, B, T, d], gather [N]
 * (flat b * T + t); the mix form adds buildPlainLayer's mix inputs and gather_t [N] (each gathered
 * row's position t); with cachedZ, z as in buildPlainLayer. Out: logits [Kx, N, V].
 */
export function buildFinalLayer(cfg: ModelConfig, w: ModelWeights, mix: boolean, cachedZ = false): BuiltGraph {
  const L = cfg.nLayers - 1;
  const lw = w.layers[L]!;
  const g = new GraphBuilder(`layer_final${mix ? '_mix' : ''}${cachedZ ? '_cached_z' : ''}`);
  const p = LAYER_PREFIX;
  const d = cfg.dModel;
  const hd = cfg.nHeads * cfg.dHead;
  const resid = g.input('resid', 'float32', ['kr', 'b', 't', d]);
  const idx = g.input('gather', 'int64', ['n']);
  const src = mix ? sourceInputs(g, cfg) : undefined;
  const mi = mix ? mixInputs(g, cfg) : undefined;
  const idxT = mix ? g.input('gather_t', 'int64', ['n']) : undefined;
  const c = layerCtx(g, cfg, lw, resid, L, !cachedZ);
  const rows = (t: string, width: number) => g.op('Gather', [reshape(g, t, [0, -1, width]), idx], { axis: 1 }); // [Kx, N, width]
  let z = layerZ(c, resid, cachedZ);
  if (mi && src) z = mixZ(g, z, src.srcZ, mi.mixH).mixed;
  const zRows = rows(transpose(g, z, [0, 2, 3, 1, 4]), hd); // [Kx, N, H dh]
  const attnOut = g.op('MatMul', [zRows, g.weight(`${p}wo_fused`, lw.wo.data, [hd, d])]);
  const mid = addBias(g, g.op('Add', [rows(resid, d), attnOut]), lw.bo?.data, `${p}bo`, [d]);
  let m = mlp(c, norm(g, mid, normOf(g, cfg, lw.ln2, `${p}ln2`)), p);
  if (mi && src && idxT) {
    const vm = g.op('Unsqueeze', [g.op('Gather', [mi.mixM, idxT], { axis: 1 }), g.ints([2])]); // [K, N, 1]
    m = g.op('Add', [m, g.op('Mul', [vm, g.op('Sub', [rows(src.srcMlp, d), m])])]);
  }
  const out = addBias(g, g.op('Add', [mid, m]), lw.bOut?.data, `${p}b_out`, [d]);
  g.output(unembed(g, cfg, w, out), 'logits', 'float32', [mix ? 'k' : 'kr', 'n', cfg.vocabSize]);
  return g.build();
}

/**
 * A layer's senders from z, outside a run: heads [1, H, B*T, d] (each head's output: the full-width
 * rows of a cache), or with `summed` the attention output [1, B, T, d] (their sum). In: z [1, H, B, T, dh].
 */
export function buildSendersFromZ(cfg: ModelConfig, w: LayerWeights, summed: boolean): BuiltGraph {
  const g = new GraphBuilder(summed ? 'attention_output' : 'head_outputs');
  const z = g.input('z', 'float32', [1, cfg.nHeads, 'b', 't', cfg.dHead]);
  const c: LayerCtx = { g, cfg, w, B: dimOf(g, z, 2), T: dimOf(g, z, 3), layer: 0 };
  if (summed) g.output(attentionOutput(c, z, LAYER_PREFIX), 'out', 'float32', [1, 'b', 't', cfg.dModel]);
  else g.output(headOutputs(c, z, LAYER_PREFIX), 'out', 'float32', [1, cfg.nHeads, 'bt', cfg.dModel]);
  return g.build();
}

function unembed(g: GraphBuilder, cfg: ModelConfig, w: ModelWeights, x: string): string {
  const xn = norm(g, x, normOf(g, cfg, w.lnFinal, 'ln_f'));
  const logits = g.op('MatMul', [xn, g.weight('unembed', w.unembed.data, [cfg.dModel, cfg.vocabSize])]);
  return addBias(g, logits, w.unembedBias?.data, 'unembed.bias', [cfg.vocabSize]);
}

/**
 * Final norm + unembedding at N gathered positions. In: resid [Kr, B, T, d], gather [N] (flat
 * b * T + t indices). Patched form adds diff [Kd, A, B, T, d] (source minus this run) for the A
 * senders some mask entry reaches, and mask [K, N, A] (the logits receiver's mask at each
 * gathered position). Out: logits [K, N, V].
 */
export function buildLogits(cfg: ModelConfig, w: ModelWeights, variant: LayerVariant): BuiltGraph {
  const g = new GraphBuilder(`logits_${variant}`);
  const d = cfg.dModel;
  const resid = g.input('resid', 'float32', ['kr', 'b', 't', d]);
  const idx = g.input('gather', 'int64', ['n']);
  const at = (t: string, axis: number, lead: number) => g.op('Gather', [reshape(g, t, [...Array(lead).fill(0), -1, d]), idx], { axis });
  let x = at(resid, 1, 1); // [Kr, N, d]
  if (variant === 'patched') {
    const diff = g.input('diff', 'float32', ['kd', 's', 'b', 't', d]);
    const mask = g.input('mask', 'float32', ['k', 'n', 's']);
    const D = transpose(g, at(diff, 2, 2), [0, 2, 1, 3]); // [Kd, N, S, d]
    const delta = g.op('MatMul', [g.op('Unsqueeze', [mask, g.ints([2])]), D]); // [K, N, 1, d]
    x = g.op('Add', [x, g.op('Squeeze', [delta, g.ints([2])])]);
  }
  g.output(unembed(g, cfg, w, x), 'logits', 'float32', ['k', 'n', cfg.vocabSize]);
  return g.build();
}

/**
 * The whole model as one ordinary graph (shared residual stream, every head at once): the baseline
 * the patchable runtime is measured and checked against. In: embeddings [B, T, d] (the `input`
 * sender: token + position embeddings), gather [N]. Out: logits [N, V].
 */
export function buildPlainForward(cfg: ModelConfig, w: ModelWeights, opts: GraphBuilderOptions = {}): BuiltGraph {
  const g = new GraphBuilder('plain_forward', opts);
  const d = cfg.dModel;
  const emb = g.input('input', 'float32', ['b', 't', d]);
  const idx = g.input('gather', 'int64', ['n']);
  const B = dimOf(g, emb, 0);
  const T = dimOf(g, emb, 1);
  const ropeT = ropeInit(g, cfg);
  let resid = emb;
  w.layers.forEach((lw, L) => {
    const c: LayerCtx = { g, cfg, w: lw, B, T, rope: ropeT, layer: L };
    const p = `L${L}.`;
    const x = g.op('Unsqueeze', [norm(g, resid, normOf(g, cfg, lw.ln1, `${p}ln1`)), g.ints([0])]);
    const [q, k, v] = sharedQkv(c, x, p);
    const attnOut = g.op('Squeeze', [attentionOutput(c, attention(c, q, k, v), p), g.ints([0])]);
    const mid = addBias(g, g.op('Add', [resid, attnOut]), lw.bo?.data, `${p}bo`, [d]);
    const m = mlp(c, norm(g, mid, normOf(g, cfg, lw.ln2, `${p}ln2`)), p);
    resid = addBias(g, g.op('Add', [mid, m]), lw.bOut?.data, `${p}b_out`, [d]);
  });
  const x = g.op('Gather', [reshape(g, resid, [-1, d]), idx], { axis: 0 });
  g.output(unembed(g, cfg, w, x), 'logits', 'float32', ['n', cfg.vocabSize]);
  return g.build();
}
