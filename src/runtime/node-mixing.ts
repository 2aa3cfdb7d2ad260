// Node mixing: when every edge out of sender s (into the layers a patched run recomputes) carries the
// same mask value v, in one configuration (and position), then sum_r M[s, r] (src_s - cur_s) is the
// same delta for every receiver, so it can be applied once at the sender's output:
// cur_s <- cur_s + v (src_s - cur_s) before anything reads it. Node patches (a head, an MLP, the
// residual stream) then leave no per-receiver entries, and the layers they reach keep the cheap
// shared-input form.
import { EdgeMasks } from './masks.js';

export class NodeMixing {
  private constructor(
    /** M with the rows of node-mixed senders zeroed: what is left needs per-receiver inputs. */
    readonly masks: EdgeMasks,
    /** [K, P, S]: the value each sender is mixed with (0: not mixed), P = T per position, else 1. */
    private readonly weights: Float32Array,
    private readonly nPositions: number,
    /** Per sender: whether any configuration or position mixes it with a nonzero value. */
    private readonly active: Uint8Array,
  ) {}

  /**
   * Splits M into node mixing and the remaining edge entries. Only receivers in layers >= startLayer
   * count: earlier ones are taken from the base run, and every edge into them is 0 by the choice of
   * startLayer, so their entries can neither be patched nor be mixed.
   */
  static split(masks: EdgeMasks, startLayer: number): NodeMixing {
    const g = masks.graph;
    const { nSenders: S, nReceivers: R } = g;
    const P = masks.seqLen ?? 1;
    const rows = masks.k * P;
    const fan = g.fanIn;
    // A run that recomputes no layer has nothing to save by mixing: edges into the logits are
    // patched at the gathered positions only, which costs less than mixing at every position.
    if (startLayer >= g.nLayers) return new NodeMixing(masks, new Float32Array(rows * S), P, new Uint8Array(S));
    const r0 = g.layerReceiverStart(startLayer);
    // First receiver each sender feeds from r0 on (fan-in grows with the receiver index).
    const first = Array.from({ length: S }, (_, s) => {
      let r = r0;
      while (r < R && s >= fan[r]!) r++;
      return r;
    });
    const weights = new Float32Array(rows * S);
    const active = new Uint8Array(S);
    const data = masks.data;
    let any = false;
    for (let row = 0; row < rows; row++) {
      for (let s = 0; s < S; s++) {
        const base = (row * S + s) * R;
        const v = data[base + first[s]!]!;
        if (v === 0) continue; // all-zero rows are nothing to mix; a zero among nonzeros is no node patch
        let same = true;
        for (let r = first[s]! + 1; r < R && same; r++) if (s < fan[r]! && data[base + r] !== v) same = false;
        if (!same) continue;
        weights[row * S + s] = v;
        active[s] = 1;
        any = true;
      }
    }
    if (!any) return new NodeMixing(masks, weights, P, active);
    const rest = data.slice();
    for (let row = 0; row < rows; row++) {
      for (let s = 0; s < S; s++) if (weights[row * S + s] !== 0) rest.fill(0, (row * S + s) * R, (row * S + s + 1) * R);
    }
    return new NodeMixing(EdgeMasks.fromData(g, masks.k, rest, masks.seqLen), weights, P, active);
  }

  /** Whether sender s is mixed with a nonzero value anywhere. */
  mixes(s: number): boolean {
    return this.active[s] === 1;
  }

  /**
   * Whether sender s is mixed with 1 in every configuration and at every position: it then carries
   * the source's value wherever it is read, and its difference from the source is 0.
   */
  mixesWhole(s: number): boolean {
    const S = this.active.length;
    for (let row = 0; row < this.weights.length / S; row++) if (this.weights[row * S + s] !== 1) return false;
    return true;
  }

  /** Whether any sender of [s0, s1) is mixed anywhere. */
  mixesAny(s0: number, s1: number): boolean {
    for (let s = s0; s < s1; s++) if (this.active[s] === 1) return true;
    return false;
  }

  /** The value sender s is mixed with in configuration k at position t. */
  weight(k: number, t: number, s: number): number {
    const S = this.active.length;
    return this.weights[(k * this.nPositions + (this.nPositions === 1 ? 0 : t)) * S + s]!;
  }

  /** [K, T, n]: the values of `senders` at each of T positions, the layout of the layer graphs' mix inputs. */
  block(senders: readonly number[], T: number): Float32Array {
    const K = this.masks.k;
    const n = senders.length;
    const out = new Float32Array(K * T * n);
    for (let k = 0; k < K; k++) {
      for (let t = 0; t < T; t++) senders.forEach((s, i) => (out[(k * T + t) * n + i] = this.weight(k, t, s)));
    }
    return out;
  }
}
