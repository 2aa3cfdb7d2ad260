// Re-arrangements of the internal weights into the layouts the ONNX graphs multiply with. Each is
// made once per weight object and kept with it, so that every session of a model (which all take
// their weights as inputs) reads the same copy.
import type { ModelConfig, Tensor } from '../model/types.js';

const expandedCache = new WeakMap<Tensor, Float32Array>();

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
