// Re-arrangements of the internal weights into the layouts the ONNX graphs multiply with. Each is
// made once per weight object and kept with it, so that every session of a model (which all take
// their weights as inputs) reads the same copy.
import type { LayerWeights, ModelConfig, Tensor } from '../model/types.js';

const fusedCache = new WeakMap<LayerWeights, FusedQkv>();
const expandedCache = new WeakMap<Tensor, Float32Array>();

export interface FusedQkv {
  readonly weight: Float32Array;
  readonly bias?: Float32Array;
  readonly width: number;
}

/** Per-head [n, d, dh] blocks side by side as one [d, n*dh] matrix (column block h = head h). */
export function headsToColumns(w: Tensor): Float32Array {
  const [n, d, dh] = w.shape as [number, number, number];
  const out = new Float32Array(d * n * dh);
  for (let h = 0; h < n; h++) {
    for (let i = 0; i < d; i++) {
      const src = (h * d + i) * dh;
      out.set(w.data.subarray(src, src + dh), i * n * dh + h * dh);
    }
  }
  return out;
}

/** Fused [d, (H + 2 Hkv) dh] projection q | k | v for the unpatched (shared-input) layer. */
export function fusedQkv(l: LayerWeights): FusedQkv {
  let f = fusedCache.get(l);
  if (!f) {
    f = makeFusedQkv(l);
    fusedCache.set(l, f);
  }
  return f;
}

function makeFusedQkv(l: LayerWeights): FusedQkv {
  const q = headsToColumns(l.wq);
  const k = headsToColumns(l.wk);
  const v = headsToColumns(l.wv);
  const d = l.wq.shape[1]!;
  const wq = q.length / d;
  const wk = k.length / d;
  const width = wq + 2 * wk;
  const weight = new Float32Array(d * width);
  for (let i = 0; i < d; i++) {
    weight.set(q.subarray(i * wq, (i + 1) * wq), i * width);
    weight.set(k.subarray(i * wk, (i + 1) * wk), i * width + wq);
    weight.set(v.subarray(i * wk, (i + 1) * wk), i * width + wq + wk);
  }
  let bias: Float32Array | undefined;
  if (l.bq || l.bk || l.bv) {
    bias = new Float32Array(width);
    if (l.bq) bias.set(l.bq.data, 0);
    if (l.bk) bias.set(l.bk.data, wq);
    if (l.bv) bias.set(l.bv.data, wq + wk);
  }
  return { weight, bias, width };
}

/** Key/value weights repeated so that every query head has its own copy (grouped-query attention). */
export function expandKvHeads(w: Tensor, cfg: ModelConfig): Float32Array {
  const group = cfg.nHeads / cfg.nKvHeads;
  if (group === 1) return w.data;
  const known = expandedCache.get(w);
  if (known) return known;
  const per = w.data.length / cfg.nKvHeads;
  const out = new Float32Array(per * cfg.nHeads);
  for (let h = 0; h < cfg.nHeads; h++) {
    const kv = Math.floor(h / group);
    out.set(w.data.subarray(kv * per, (kv + 1) * per), h * per);
  }
  expandedCache.set(w, out);
  return out;
}

export function checkAttentionShape(cfg: ModelConfig): void {
  if (cfg.nHeads % cfg.nKvHeads !== 0) {
    throw new Error(`${cfg.name}: nHeads ${cfg.nHeads} is not a multiple of nKvHeads ${cfg.nKvHeads}`);
  }
  if (cfg.positional === 'rope' && cfg.dHead % 2 !== 0) throw new Error(`${cfg.name}: RoPE needs an even head size, got ${cfg.dHead}`);
}
