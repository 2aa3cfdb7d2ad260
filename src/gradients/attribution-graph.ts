// The transformer written on a Tape (tape.ts), and the graphs attribution runs (docs/design.md
// section 1 defines receivers: each receiver reads its own copy of the residual stream, so the
// gradient of the metric with respect to a receiver's input is what an edge into it is scored by).
//
// - senders graph (only for data whose runs are not cached already): in `input` [B, T, d] (the
//   input sender) and `pick` [N, B T] (one-hot of the N metric targets, row after row); out logits
//   [N, V] and every sender's output [S, B, T, d] (graph order: input, per layer its heads, its MLP).
// - attribution graph: in `input`, `pick`, the metric's gradient terms (below) and the runs' sender
//   outputs `source_senders`, `base_senders` [S, B, T, d]; out `edge_scores`: entry (s, r) is
//   sum_t (source_s - base_s)[t] . d metric / d input_r[t] at `input`, summed over rows ([S, R]),
//   per row ([B, S, R]) or per row and position ([B, T, S, R]); and the logits [N, V] at `input`.
//
// One run is one forward, one backward and one contraction:
// - the metric's gradient with respect to the logits is made in the graph from the logits at this
//   point: seed = add + p * (weights - sum(weights * p)) - self * p, p = softmax(logits). Every
//   registry metric has this form (metric-gradients.ts gives its terms), so an interpolation point
//   needs no separate forward pass to know its logits.
// - a layer's head receivers all read the same residual stream at M = 0, so the forward normalises it
//   once and projects q, k and v for every head at once; the 3H receivers' input gradients are then
//   rebuilt from the gradients of their own projections: for receiver r (a head's q, k or v input)
//   with projection W_r and the layer's norm (x^ the normalised stream, inv = 1 / sigma, w its weight),
//     d m / d x_r = P - mean(P) - x^ mean(P x^),  P = (inv g_r) (diag(w) W_r)^T,
//   the norm's backward rule (RMSNorm: without the mean(P) term), where g_r = d m / d (x W_r) is
//   what the tape's backward pass gives for the projection. mean(P) is folded into the product (an
//   extra row of the transposed weight), and mean(P x^) = (g_r . (xn - b) W_r) / d needs only the
//   forward's projections. The MLP's and the logits' receivers are one per layer: a zero `d_mlp_L` /
//   `d_logits` input added to their stream gives their gradient directly.
// - contraction: the difference of sender outputs is taken once, then multiplied with the receiver
//   gradients of three blocks of layers (Gemm with a transposed operand: no copy), each block over
//   the senders that feed it.
// Several points run as one (stacked along the batch); their receiver gradients are averaged before
// the one contraction. With `overrides` (eap-ig-activations) a layer's attention or MLP output can
// be replaced by a given value, per point.
import type { LayerWeights, ModelConfig, ModelWeights, NormWeights, Tensor } from '../model/types.js';
import type { BuiltGraph } from '../runtime/onnx/builder.js';
import { ropeTables } from '../runtime/onnx/ops.js';
import { Tape } from './tape.js';

/** How edge scores are laid out: summed over rows [S, R], per row [B, S, R], per row and position [B, T, S, R]. */
export type ScoreLayout = 'sum' | 'rows' | 'positions';

/** Names of the zero receiver inputs of the MLPs and logits (fed by the caller). */
export interface ZeroInput {
  readonly name: string;
  readonly shape: readonly number[];
}

export interface BuiltAttributionGraph {
  readonly graph: BuiltGraph;
  /** Zero inputs to feed with every run. */
  readonly zeros: readonly ZeroInput[];
}

/** What the forward written on a tape exposes to the backward and the contraction. */
interface TapedForward {
  readonly tp: Tape;
  readonly logits: string;
  readonly zeros: ZeroInput[];
  /** Per layer: the head receivers' projections [H, B T, dh] (q, k, v, expanded to every query head), the norm's x^ [B T, d] and inv [B T, 1], the MLP's zero input. */
  readonly layers: readonly { q: string; k: string; v: string; xhat: string; inv: string; mlpDelta: string }[];
  readonly logitsDelta: string;
  /** Sender outputs [S, B, T, d], when asked for. */
  readonly senders?: string;
}

/** The model's forward on a tape; `withSenders` also forms each head's output (the senders graph). */
function tapedForward(cfg: ModelConfig, w: ModelWeights, B: number, T: number, N: number, withSenders: boolean, overrides = false): TapedForward {
  const { dModel: d, nHeads: H, nKvHeads: Hkv, dHead: dh, dMlp: f, vocabSize: V, nLayers } = cfg;
  if (T > cfg.maxPositions) throw new Error(`sequence of ${T} tokens exceeds the model's ${cfg.maxPositions} positions`);
  const BT = B * T;
  const tp = new Tape(`attribution_b${B}_t${T}`);
  const zeros: ZeroInput[] = [];
  const zero = (name: string, shape: number[]): string => {
    zeros.push({ name, shape });
    return tp.input(name, shape, true);
  };
  const wt = (name: string, data: Float32Array, shape: number[]): string => tp.weight(name, data, shape);

  /** The norm (layer norm: one op; RMSNorm in primitives); returns its output and its x^ and inv for the receivers' backward. */
  const norm = (x: string, nw: NormWeights, name: string): { y: string; xhat: string; inv: string } => {
    if (cfg.norm === 'layernorm') return tp.layerNorm(x, wt(`${name}.weight`, nw.weight.data, [d]), nw.bias ? wt(`${name}.bias`, nw.bias.data, [d]) : undefined, cfg.normEps);
    const meanSq = tp.reduce(tp.mul(x, x), -1, true, true);
    const inv = tp.reciprocal(tp.sqrt(tp.add(meanSq, tp.scalar(cfg.normEps))));
    const xhat = tp.mul(x, inv);
    const y = tp.mul(xhat, wt(`${name}.weight`, nw.weight.data, [d]));
    return { y: nw.bias ? tp.add(y, wt(`${name}.bias`, nw.bias.data, [d])) : y, xhat, inv };
  };

  let rope: { cos: string; sin: string } | undefined;
  if (cfg.positional === 'rope') {
    const t = ropeTables(T, dh, cfg.ropeTheta);
    rope = { cos: tp.table('rope.cos', t.cos, [T, dh]), sin: tp.table('rope.sin', t.sin, [T, dh]) };
  }
  const rotate = (x: string): string => {
    if (!rope) return x;
    const half = dh / 2;
    const rotated = tp.concat([tp.neg(tp.slice(x, -1, half, dh)), tp.slice(x, -1, 0, half)], -1);
    return tp.add(tp.mul(x, rope.cos), tp.mul(rotated, rope.sin));
  };
  const causal = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) causal[i * T + j] = -1e9;
  const causalMask = tp.table('causal', causal, [T, T]);

  const input = tp.input('input', [B, T, d], true);
  const senders: string[] = withSenders ? [tp.reshape(input, [1, B, T, d])] : [];
  const layers: TapedForward['layers'][number][] = [];
  let resid = tp.reshape(input, [BT, d]);
  const group = H / Hkv;
  for (let L = 0; L < nLayers; L++) {
    const lw = w.layers[L]!;
    const n1 = norm(resid, lw.ln1, `L${L}.ln1`);
    // q, k and v each from one batched product with its channel's own [n, d, dh] head weights
    // (the stream broadcast over the heads): [n, B T, dh], head-major with no transpose, and no
    // second, fused copy of the weights. Its backward sums the heads' input gradients; three
    // products rather than one over a fused weight, whose slices' backward would pad each slice's
    // gradient to the full width and add them. k and v are repeated for every query head (GQA).
    const heads = (weight: Tensor, bias: Tensor | undefined, name: string, n: number): string => {
      let y = tp.matmul(n1.y, wt(name, weight.data, [n, d, dh]));
      if (bias) y = tp.add(y, wt(`${name}.bias`, bias.data, [n, 1, dh]));
      return y;
    };
    const expand = (x: string): string => (group === 1 ? x : tp.reshape(tp.concat(Array<string>(group).fill(tp.reshape(x, [Hkv, 1, BT, dh])), 1), [H, BT, dh]));
    const q = heads(lw.wq, lw.bq, `L${L}.wq`, H);
    const k = expand(heads(lw.wk, lw.bk, `L${L}.wk`, Hkv));
    const v = expand(heads(lw.wv, lw.bv, `L${L}.wv`, Hkv));
    const q4 = rotate(tp.reshape(q, [H, B, T, dh]));
    const k4 = rotate(tp.reshape(k, [H, B, T, dh]));
    const scores = tp.add(tp.mul(tp.matmul(q4, tp.transpose(k4, [0, 1, 3, 2])), tp.scalar(1 / Math.sqrt(dh))), causalMask);
    const z = tp.reshape(tp.matmul(tp.softmax(scores), tp.reshape(v, [H, B, T, dh])), [H, BT, dh]);
    let attn: string;
    if (withSenders) {
      const perHead = tp.matmul(z, wt(`L${L}.wo3`, lw.wo.data, [H, dh, d])); // [H, B T, d]
      senders.push(tp.reshape(perHead, [H, B, T, d]));
      attn = tp.reduce(perHead, 0, false);
    } else {
      attn = tp.matmul(tp.reshape(tp.transpose(z, [1, 0, 2]), [BT, H * dh]), wt(`L${L}.wo`, lw.wo.data, [H * dh, d]));
    }
    // Overrides (eap-ig-activations): a node's output replaced by a given value, keep 0 (no
    // gradient flows back through it); keep 1 and value 0 leave it as computed.
    const override = (x: string, name: string): string => (overrides ? tp.add(tp.mul(x, tp.input(`keep_${name}`, [BT, 1], false)), tp.input(`value_${name}`, [BT, d], false)) : x);
    attn = override(attn, `attn_${L}`);
    let mid = tp.add(resid, attn);
    if (lw.bo) mid = tp.add(mid, wt(`L${L}.bo`, lw.bo.data, [d]));

    const mlpDelta = zero(`d_mlp_${L}`, [BT, d]);
    const xm = norm(tp.add(mid, mlpDelta), lw.ln2, `L${L}.ln2`).y;
    let up = tp.matmul(xm, wt(`L${L}.w_in`, lw.wIn.data, [d, f]));
    if (lw.bIn) up = tp.add(up, wt(`L${L}.b_in`, lw.bIn.data, [f]));
    let hidden: string;
    if (cfg.mlp === 'swiglu') {
      if (!lw.wGate) throw new Error(`${cfg.name}: layer ${L} is SwiGLU but has no gate weight`);
      const gate = tp.matmul(xm, wt(`L${L}.w_gate`, lw.wGate.data, [d, f]));
      hidden = tp.mul(tp.mul(gate, tp.sigmoid(gate)), up);
    } else {
      hidden = tp.gelu(up);
    }
    const m = override(tp.matmul(hidden, wt(`L${L}.w_out`, lw.wOut.data, [f, d])), `mlp_${L}`);
    if (withSenders) senders.push(tp.reshape(m, [1, B, T, d]));
    resid = tp.add(mid, m);
    if (lw.bOut) resid = tp.add(resid, wt(`L${L}.b_out`, lw.bOut.data, [d]));
    layers.push({ q, k, v, xhat: n1.xhat, inv: n1.inv, mlpDelta });
  }
  const logitsDelta = zero('d_logits', [BT, d]);
  const xl = norm(tp.add(resid, logitsDelta), w.lnFinal, 'ln_f').y;
  const picked = tp.matmul(tp.input('pick', [N, BT], false), xl); // [N, d]
  let logits = tp.matmul(picked, wt('unembed', w.unembed.data, [d, V]));
  if (w.unembedBias) logits = tp.add(logits, wt('unembed.bias', w.unembedBias.data, [V]));
  return { tp, logits, zeros, layers, logitsDelta, senders: withSenders ? tp.concat(senders, 0) : undefined };
}

/** The senders graph: logits at the targets and every sender's output of a run at `input`. */
export function buildSendersGraph(cfg: ModelConfig, w: ModelWeights, B: number, T: number, N: number): BuiltAttributionGraph {
  const f = tapedForward(cfg, w, B, T, N, true);
  f.tp.output(f.logits, 'logits');
  f.tp.output(f.senders!, 'senders');
  return { graph: f.tp.g.build(), zeros: f.zeros };
}

/**
 * Per layer, the head receivers' transposed projections with the norm's weight folded in,
 * [3H, dh (+1), d] head-major (h0 q, h0 k, h0 v, h1 q, ...: the graph's receiver order), the
 * layernorm's extra row -1 (it subtracts mean(P)); and the constant c_r = bias_r + b W_r [3H, 1, dh]
 * with (xn - b) W_r = projection_r - c_r.
 */
interface ReceiverProjections {
  readonly weightT: Float32Array;
  readonly rowMeans: Float32Array;
  readonly offset: Float32Array;
}

const projectionCache = new WeakMap<LayerWeights, ReceiverProjections>();

function receiverProjections(cfg: ModelConfig, lw: LayerWeights): ReceiverProjections {
  const known = projectionCache.get(lw);
  if (known) return known;
  const { dModel: d, nHeads: H, nKvHeads: Hkv, dHead: dh } = cfg;
  const layernorm = cfg.norm === 'layernorm';
  const rows = layernorm ? dh + 1 : dh;
  const weightT = new Float32Array(3 * H * rows * d);
  const rowMeans = new Float32Array(3 * H * dh);
  const offset = new Float32Array(3 * H * dh);
  const nw = lw.ln1.weight.data;
  const nb = lw.ln1.bias?.data;
  const group = H / Hkv;
  const channels = [
    { w: lw.wq, b: lw.bq, head: (h: number) => h },
    { w: lw.wk, b: lw.bk, head: (h: number) => Math.floor(h / group) },
    { w: lw.wv, b: lw.bv, head: (h: number) => Math.floor(h / group) },
  ];
  for (let h = 0; h < H; h++) {
    channels.forEach((c, ci) => {
      const r = 3 * h + ci;
      const src = c.head(h);
      const W = c.w.data; // [n, d, dh]
      for (let j = 0; j < dh; j++) {
        let mean = 0;
        let bW = 0;
        for (let i = 0; i < d; i++) {
          const x = W[(src * d + i) * dh + j]!;
          const folded = x * nw[i]!;
          weightT[(r * rows + j) * d + i] = folded;
          mean += folded;
          if (nb) bW += nb[i]! * x;
        }
        rowMeans[r * dh + j] = mean / d;
        offset[r * dh + j] = bW + (c.b ? c.b.data[src * dh + j]! : 0);
      }
      if (layernorm) weightT.fill(-1, (r * rows + dh) * d, (r * rows + dh + 1) * d);
    });
  }
  const p = { weightT, rowMeans, offset };
  projectionCache.set(lw, p);
  return p;
}

/**
 * The attribution graph of one batch shape and score layout, at `points` interpolation points at
 * once (stacked along the batch: the points' receiver gradients are averaged before the one
 * contraction, which is linear in them). Inputs besides the weights: `input` [points B, T, d] (point
 * after point), `pick` [points N, points B T], `seed_add`, `seed_weights` [N, V], `seed_self`
 * [N, 1], `source_senders`, `base_senders` [S, B, T, d] and the zero inputs it lists; with
 * `overrides`, per layer `keep_attn_L`, `keep_mlp_L` [points B T, 1] and `value_attn_L`,
 * `value_mlp_L` [points B T, d]: the layer's attention output (all heads) and MLP output are
 * output * keep + value.
 */
export function buildAttributionGraph(cfg: ModelConfig, w: ModelWeights, B: number, T: number, N: number, layout: ScoreLayout, points = 1, overrides = false): BuiltAttributionGraph {
  const { dModel: d, nHeads: H, dHead: dh, vocabSize: V, nLayers } = cfg;
  const BT = B * T;
  const PBT = points * BT;
  const f = tapedForward(cfg, w, points * B, T, points * N, false, overrides);
  const { tp } = f;

  // d score / d logits at each point, from its logits (see the header), over the points' mean.
  const p = tp.reshape(tp.softmax(f.logits), [points, N, V]);
  const weights = tp.input('seed_weights', [N, V], false);
  const spread = tp.sub(weights, tp.reduce(tp.mul(weights, p), -1, true));
  const perPoint = tp.sub(tp.add(tp.input('seed_add', [N, V], false), tp.mul(p, spread)), tp.mul(tp.input('seed_self', [N, 1], false), p));
  const seed = tp.reshape(points === 1 ? perPoint : tp.mul(perPoint, tp.scalar(1 / points)), [points * N, V]);

  const probes = f.layers.flatMap((l) => [l.q, l.k, l.v, l.mlpDelta]);
  const grads = tp.gradients(f.logits, seed, [...probes, f.logitsDelta]);
  const gradOf = new Map(probes.map((x, i) => [x, grads[i]!]));
  /** [n, points B T, d] summed over the points -> [n, B T, d]. */
  const overPoints = (x: string, n: number): string => (points === 1 ? x : tp.reshape(tp.reduce(tp.reshape(x, [n, points, BT * d]), 1, false), [n, BT, d]));

  // Receiver gradients per layer: [3H, B T, d] of the heads' q/k/v inputs, then [1, B T, d] of the MLP.
  const receiverGrads: string[][] = f.layers.map((l, L) => {
    const proj = receiverProjections(cfg, w.layers[L]!);
    const rows = proj.weightT.length / (3 * H * d);
    const stack = (xs: readonly string[]): string =>
      tp.reshape(
        tp.concat(
          xs.map((x) => tp.reshape(x, [H, 1, PBT, dh])),
          1,
        ),
        [3 * H, PBT, dh],
      );
    const g = tp.mul(stack([gradOf.get(l.q)!, gradOf.get(l.k)!, gradOf.get(l.v)!]), tp.reshape(l.inv, [1, PBT, 1]));
    const projections = tp.sub(stack([l.q, l.k, l.v]), tp.weight(`L${L}.recv_offset`, proj.offset, [3 * H, 1, dh]));
    const meanPx = tp.mul(tp.reduce(tp.mul(g, projections), -1, true), tp.scalar(1 / d)); // [3H, P B T, 1]
    // P - mean(P) is linear in g: summed over the points in head space (d / dh times smaller) first.
    const gSum = points === 1 ? g : tp.reduce(tp.reshape(g, [3 * H, points, BT, dh]), 1, false);
    const gAug = rows > dh ? tp.concat([gSum, tp.matmul(gSum, tp.weight(`L${L}.recv_means`, proj.rowMeans, [3 * H, dh, 1]))], -1) : gSum;
    const P = tp.matmul(gAug, tp.weight(`L${L}.recv_wt`, proj.weightT, [3 * H, rows, d]));
    if (points === 1) return [tp.sub(P, tp.mul(tp.reshape(l.xhat, [1, BT, d]), meanPx)), tp.reshape(gradOf.get(l.mlpDelta)!, [1, BT, d])];
    // sum_p x^_p mean(P_p x^_p): per position a [3H, points] x [points, d] product.
    const weightsByPosition = tp.transpose(tp.reshape(meanPx, [3 * H, points, BT]), [2, 0, 1]); // [B T, 3H, points]
    const xhatByPosition = tp.transpose(tp.reshape(l.xhat, [points, BT, d]), [1, 0, 2]); // [B T, points, d]
    const correction = tp.transpose(tp.matmul(weightsByPosition, xhatByPosition), [1, 0, 2]); // [3H, B T, d]
    return [tp.sub(P, correction), overPoints(tp.reshape(gradOf.get(l.mlpDelta)!, [1, PBT, d]), 1)];
  });
  receiverGrads.push([overPoints(tp.reshape(grads[probes.length]!, [1, PBT, d]), 1)]);

  const S = 1 + nLayers * (H + 1);
  const delta = tp.untaped('Sub', [tp.input('source_senders', [S, B, T, d], false), tp.input('base_senders', [S, B, T, d], false)], [S, B, T, d]);
  // Receivers are contracted a few layers at a time: each product reads every sender difference
  // once, so one product per layer (or per receiver) would be bound by memory, where a block of
  // about 150 receivers keeps the multiply units busy. A block reads only the senders that feed it
  // (a prefix: senders come in graph order).
  const blocks = receiverBlocks(receiverGrads, Math.ceil(nLayers / CONTRACTION_BLOCKS));
  const parts: string[] = [];
  const flat = tp.reshape(delta, [S, BT * d]);
  const byRow = layout === 'rows' ? tp.transpose(tp.reshape(delta, [S, B, T * d]), [1, 0, 2]) : undefined; // [B, S, T d]
  const byPosition = layout === 'positions' ? tp.transpose(delta, [1, 2, 0, 3]) : undefined; // [B, T, S, d]
  for (const block of blocks) {
    const g = block.grads.length === 1 ? block.grads[0]! : tp.concat(block.grads, 0); // [n, B T, d]
    const n = tp.shape(g)[0]!;
    if (layout === 'sum') {
      const fed = block.lastLayer >= nLayers ? S : 1 + block.lastLayer * (H + 1) + H;
      const senders = fed === S ? flat : tp.untaped('Slice', [flat, tp.g.ints([0]), tp.g.ints([fed]), tp.g.ints([0])], [fed, BT * d]);
      const product = tp.untaped('Gemm', [senders, tp.reshape(g, [n, BT * d])], [fed, n], { transB: 1 });
      parts.push(fed === S ? product : tp.untaped('Pad', [product, tp.g.ints([0, 0, S - fed, 0])], [S, n]));
    } else if (byRow) {
      parts.push(tp.matmul(byRow, tp.transpose(tp.reshape(g, [n, B, T * d]), [1, 2, 0]))); // [B, S, n]
    } else {
      parts.push(tp.matmul(byPosition!, tp.transpose(tp.reshape(g, [n, B, T, d]), [1, 2, 3, 0]))); // [B, T, S, n]
    }
  }
  tp.output(parts.length === 1 ? parts[0]! : tp.concat(parts, layout === 'sum' ? 1 : layout === 'rows' ? 2 : 3), 'edge_scores');
  tp.output(f.logits, 'logits');
  return { graph: tp.g.build(), zeros: f.zeros };
}

/** How many blocks of layers the contraction runs in (see buildAttributionGraph). */
const CONTRACTION_BLOCKS = 3;

/** Receiver gradients of `perBlock` layers at a time (the logits' receiver joins the last block), in receiver order. */
function receiverBlocks(perLayer: readonly (readonly string[])[], perBlock: number): { grads: string[]; lastLayer: number }[] {
  const blocks: { grads: string[]; lastLayer: number }[] = [];
  const nLayers = perLayer.length - 1; // the last entry is the logits receiver
  for (let L = 0; L < nLayers; L += perBlock) {
    const last = Math.min(L + perBlock, nLayers) - 1;
    blocks.push({ grads: perLayer.slice(L, last + 1).flat(), lastLayer: last });
  }
  const logits = perLayer[nLayers]!;
  if (blocks.length === 0) blocks.push({ grads: [...logits], lastLayer: nLayers });
  else {
    blocks[blocks.length - 1]!.grads.push(...logits);
    blocks[blocks.length - 1]!.lastLayer = nLayers;
  }
  return blocks;
}
