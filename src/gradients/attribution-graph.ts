// The transformer written on a Tape (tape.ts) with one zero "receiver delta" input per receiver,
// so that the gradient of the metric with respect to a delta is the gradient with respect to that
// receiver's own input (docs/design.md section 1): a head's q receiver reaches the metric only
// through its own layer norm and q projection, exactly as in a patched run where each receiver
// gets its own copy of the residual stream. Two graphs per batch shape [B, T]:
//
// - forward: in `input` [B, T, d] (the input sender), `pick` [N, B T] (one-hot: the N metric
//   targets of the rows, row after row; a MatMul rather than a Gather, so the tape needs no scatter
//   rule and nothing of width V is made at other positions) and the zero deltas; out logits [N, V] and
//   senders [S, B, T, d] (graph order: input, then per layer its heads and its MLP);
// - attribution: the same plus `grad_logits` [N, V] (d metric / d logits, made in TypeScript:
//   metric-gradients.ts) and `sender_delta` [S, B, T, d]; out edge_scores [B, S, R], entry
//   (b, s, r) = sum_t sender_delta[s, b, t] . d metric_b / d input_r[b, t]: the first-order change
//   of row b's metric when edge s -> r carries sender_delta on top of the run at `input`; or, per
//   position, [B, T, S, R] without the sum over t (node attribution of per-position components).
//
// Deltas: d_attn_L [H, 3, B, T, d] (head-major, q/k/v: the graph's receiver order in layer L),
// d_mlp_L [B, T, d], d_logits [B, T, d].
import type { ModelConfig, ModelWeights, NormWeights } from '../model/types.js';
import type { BuiltGraph } from '../runtime/onnx/builder.js';
import { ropeTables } from '../runtime/onnx/ops.js';
import { expandKvHeads } from '../runtime/weight-layouts.js';
import { Tape } from './tape.js';

export interface AttributionGraphs {
  readonly forward: BuiltGraph;
  readonly attribution: BuiltGraph;
  /** Names and shapes of the zero receiver-delta inputs both graphs take. */
  readonly deltas: readonly { readonly name: string; readonly shape: readonly number[] }[];
}

export function buildAttributionGraphs(cfg: ModelConfig, w: ModelWeights, B: number, T: number, N: number, perPosition = false): AttributionGraphs {
  const { dModel: d, nHeads: H, dHead: dh, dMlp: f, vocabSize: V, nLayers } = cfg;
  if (T > cfg.maxPositions) throw new Error(`sequence of ${T} tokens exceeds the model's ${cfg.maxPositions} positions`);
  const tp = new Tape(`attribution_b${B}_t${T}`);
  const deltas: { name: string; shape: number[] }[] = [];
  const delta = (name: string, shape: number[]): string => {
    deltas.push({ name, shape });
    return tp.input(name, shape, true);
  };
  const wt = (name: string, data: Float32Array, shape: number[]): string => tp.weight(name, data, shape);

  const norm = (x: string, nw: NormWeights, name: string): string => {
    const weight = wt(`${name}.weight`, nw.weight.data, [d]);
    let centred = x;
    if (cfg.norm === 'layernorm') centred = tp.sub(x, tp.reduce(x, -1, true, true));
    const meanSq = tp.reduce(tp.mul(centred, centred), -1, true, true);
    const inv = tp.reciprocal(tp.sqrt(tp.add(meanSq, tp.scalar(cfg.normEps))));
    const y = tp.mul(tp.mul(centred, inv), weight);
    return nw.bias ? tp.add(y, wt(`${name}.bias`, nw.bias.data, [d])) : y;
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

  const input = tp.input('input', [B, T, d], false);
  const senders: string[] = [tp.reshape(input, [1, B, T, d])];
  let resid = input;
  for (let L = 0; L < nLayers; L++) {
    const lw = w.layers[L]!;
    // Head inputs: the residual plus each of the 3H receivers' own delta, normalised one by one.
    const x = tp.add(tp.reshape(resid, [1, 1, B, T, d]), delta(`d_attn_${L}`, [H, 3, B, T, d]));
    const xn = norm(x, lw.ln1, `L${L}.ln1`);
    const project = (channel: number, weight: Float32Array, bias: Float32Array | undefined, name: string): string => {
      const xc = tp.reshape(tp.slice(xn, 1, channel, channel + 1), [H, B * T, d]);
      let y = tp.matmul(xc, wt(`L${L}.${name}`, weight, [H, d, dh]));
      if (bias) y = tp.add(y, wt(`L${L}.b${name}`, bias, [H, 1, dh]));
      return tp.reshape(y, [H, B, T, dh]);
    };
    const kvBias = (b: ModelWeights['layers'][number]['bk']) => (b ? expandKvHeads(b, cfg) : undefined);
    const q = rotate(project(0, lw.wq.data, lw.bq?.data, 'wq'));
    const k = rotate(project(1, expandKvHeads(lw.wk, cfg), kvBias(lw.bk), 'wk'));
    const v = project(2, expandKvHeads(lw.wv, cfg), kvBias(lw.bv), 'wv');
    const scores = tp.add(tp.mul(tp.matmul(q, tp.transpose(k, [0, 1, 3, 2])), tp.scalar(1 / Math.sqrt(dh))), causalMask);
    const z = tp.matmul(tp.softmax(scores), v); // [H, B, T, dh]
    const heads = tp.reshape(tp.matmul(tp.reshape(z, [H, B * T, dh]), wt(`L${L}.wo`, lw.wo.data, [H, dh, d])), [H, B, T, d]);
    senders.push(heads);
    let mid = tp.add(resid, tp.reduce(heads, 0, false));
    if (lw.bo) mid = tp.add(mid, wt(`L${L}.bo`, lw.bo.data, [d]));

    const xm = norm(tp.add(mid, delta(`d_mlp_${L}`, [B, T, d])), lw.ln2, `L${L}.ln2`);
    let up = tp.matmul(xm, wt(`L${L}.w_in`, lw.wIn.data, [d, f]));
    if (lw.bIn) up = tp.add(up, wt(`L${L}.b_in`, lw.bIn.data, [f]));
    let hidden: string;
    if (cfg.mlp === 'swiglu') {
      if (!lw.wGate) throw new Error(`${cfg.name}: layer ${L} is SwiGLU but has no gate weight`);
      const gate = tp.matmul(xm, wt(`L${L}.w_gate`, lw.wGate.data, [d, f]));
      hidden = tp.mul(tp.mul(gate, tp.sigmoid(gate)), up);
    } else {
      // gelu_new: 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3)))
      const u3 = tp.mul(tp.mul(up, up), up);
      const inner = tp.mul(tp.add(up, tp.mul(u3, tp.scalar(0.044715))), tp.scalar(Math.sqrt(2 / Math.PI)));
      hidden = tp.mul(tp.mul(up, tp.add(tp.tanh(inner), tp.scalar(1))), tp.scalar(0.5));
    }
    const m = tp.matmul(hidden, wt(`L${L}.w_out`, lw.wOut.data, [f, d]));
    senders.push(tp.reshape(m, [1, B, T, d]));
    resid = tp.add(mid, m);
    if (lw.bOut) resid = tp.add(resid, wt(`L${L}.b_out`, lw.bOut.data, [d]));
  }
  const xl = norm(tp.add(resid, delta('d_logits', [B, T, d])), w.lnFinal, 'ln_f');
  const picked = tp.matmul(tp.input('pick', [N, B * T], false), tp.reshape(xl, [B * T, d])); // [N, d]
  let logits = tp.matmul(picked, wt('unembed', w.unembed.data, [d, V]));
  if (w.unembedBias) logits = tp.add(logits, wt('unembed.bias', w.unembedBias.data, [V]));
  tp.output(logits, 'logits');
  tp.output(tp.concat(senders, 0), 'senders');
  const forward = tp.g.build();

  // Attribution: gradients of sum(logits * grad_logits) w.r.t. every delta, in receiver order.
  const seed = tp.input('grad_logits', [N, V], false);
  const names = deltas.map((x) => x.name);
  const grads = tp.gradients(logits, seed, names);
  const perReceiver = grads.map((gr, i) => {
    const shape = deltas[i]!.shape;
    return tp.reshape(gr, [size(shape) / (B * T * d), B, T * d]);
  });
  const G = tp.concat(perReceiver, 0); // [R, B, T d]
  const S = 1 + nLayers * (H + 1);
  const R = tp.shape(G)[0]!;
  const sd = tp.input('sender_delta', [S, B, T, d], false);
  let scores: string;
  if (perPosition) {
    const Gt = tp.transpose(tp.reshape(G, [R, B, T, d]), [1, 2, 3, 0]); // [B, T, d, R]
    scores = tp.matmul(tp.transpose(sd, [1, 2, 0, 3]), Gt); // [B, T, S, R]
  } else {
    scores = tp.matmul(tp.transpose(tp.reshape(sd, [S, B, T * d]), [1, 0, 2]), tp.transpose(G, [1, 2, 0])); // [B, S, R]
  }
  tp.output(scores, 'edge_scores');
  return { forward, attribution: tp.g.build(), deltas };
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
