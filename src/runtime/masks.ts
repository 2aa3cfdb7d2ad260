// Edge masks: M[k, s, r] in [0, 1] (1 = patched) for K patch configurations evaluated in one run,
// optionally per position: M[k, t, s, r] patches edge s -> r at position t only.
// Entries on sender/receiver pairs that are not edges of the graph are ignored by the runtime.
import type { ComponentGraph, Edge } from '../graph/component-graph.js';

export class EdgeMasks {
  /** [K, S, R] or, per position, [K, T, S, R]. */
  readonly data: Float32Array;

  private constructor(
    readonly graph: ComponentGraph,
    readonly k: number,
    /** Sequence length of a per-position mask; undefined for masks that apply at every position. */
    readonly seqLen: number | undefined,
    data?: Float32Array,
  ) {
    const n = k * (seqLen ?? 1) * graph.nSenders * graph.nReceivers;
    if (!(k >= 1)) throw new Error(`EdgeMasks needs k >= 1, got ${k}`);
    if (data && data.length !== n) throw new Error(`EdgeMasks data has ${data.length} values, expected ${n}`);
    this.data = data ?? new Float32Array(n);
  }

  static zeros(graph: ComponentGraph, k: number, seqLen?: number): EdgeMasks {
    return new EdgeMasks(graph, k, seqLen);
  }

  static fromData(graph: ComponentGraph, k: number, data: Float32Array, seqLen?: number): EdgeMasks {
    return new EdgeMasks(graph, k, seqLen, data);
  }

  /** One configuration per edge set, each patching its edges fully at every (or one) position. */
  static fromEdgeSets(graph: ComponentGraph, sets: readonly (readonly Edge[])[]): EdgeMasks {
    const m = new EdgeMasks(graph, sets.length, undefined);
    sets.forEach((edges, k) => edges.forEach((e) => m.set(k, e.sender, e.receiver, 1)));
    return m;
  }

  /** Every edge patched in every configuration: the source run, by the invariant of docs/design.md section 2. */
  static allEdges(graph: ComponentGraph, k = 1): EdgeMasks {
    const m = new EdgeMasks(graph, k, undefined);
    for (let kk = 0; kk < k; kk++) for (const e of graph.edges()) m.set(kk, e.sender, e.receiver, 1);
    return m;
  }

  /** Configurations [k0, k1) as masks of their own (a view of the same data). */
  slice(k0: number, k1: number): EdgeMasks {
    const per = this.data.length / this.k;
    return new EdgeMasks(this.graph, k1 - k0, this.seqLen, this.data.subarray(k0 * per, k1 * per));
  }

  get perPosition(): boolean {
    return this.seqLen !== undefined;
  }

  index(k: number, sender: number, receiver: number, position?: number): number {
    const { nSenders: S, nReceivers: R } = this.graph;
    if (this.seqLen === undefined) return (k * S + sender) * R + receiver;
    if (position === undefined) throw new Error('a per-position mask needs a position');
    return ((k * this.seqLen + position) * S + sender) * R + receiver;
  }

  set(k: number, sender: number, receiver: number, value: number, position?: number): void {
    if (!this.graph.hasEdge(sender, receiver)) {
      throw new Error(`no edge ${this.graph.senders[sender]?.name}->${this.graph.receivers[receiver]?.name}`);
    }
    if (this.seqLen !== undefined && position === undefined) {
      for (let t = 0; t < this.seqLen; t++) this.data[this.index(k, sender, receiver, t)] = value;
    } else {
      this.data[this.index(k, sender, receiver, position)] = value;
    }
  }

  get(k: number, sender: number, receiver: number, position?: number): number {
    return this.data[this.index(k, sender, receiver, position)]!;
  }

  /**
   * The sub-block for receivers [r0, r0 + nR) and the given senders, as [K, nS, nR] or
   * [K, T, nS, nR]: the layout the layer graphs take. Entries on non-edges read as 0.
   */
  block(r0: number, nR: number, senders: readonly number[]): Float32Array {
    const { nSenders: S, nReceivers: R } = this.graph;
    const fan = this.graph.fanIn;
    const rows = this.k * (this.seqLen ?? 1);
    const nS = senders.length;
    const out = new Float32Array(rows * nS * nR);
    for (let row = 0; row < rows; row++) {
      senders.forEach((s, i) => {
        const from = (row * S + s) * R + r0;
        for (let j = 0; j < nR; j++) if (s < fan[r0 + j]!) out[(row * nS + i) * nR + j] = this.data[from + j]!;
      });
    }
    return out;
  }

  /**
   * Senders (ascending) with an entry other than `baseline` (default 0: a nonzero entry) into any
   * receiver of [r0, r0 + nR) in any configuration.
   */
  activeSenders(r0: number, nR: number, baseline = 0): number[] {
    const { nSenders: S, nReceivers: R } = this.graph;
    const rows = this.k * (this.seqLen ?? 1);
    const active: number[] = [];
    const maxFan = Math.max(...this.graph.fanIn.slice(r0, r0 + nR));
    for (let s = 0; s < maxFan; s++) {
      search: for (let row = 0; row < rows; row++) {
        const base = (row * S + s) * R;
        for (let r = r0; r < r0 + nR; r++) {
          if (s < this.graph.fanIn[r]! && this.data[base + r] !== baseline) {
            active.push(s);
            break search;
          }
        }
      }
    }
    return active;
  }

  /** Whether any configuration patches any edge into receivers [r0, r0 + nR). */
  touches(r0: number, nR: number): boolean {
    const { nSenders: S, nReceivers: R } = this.graph;
    const rows = this.k * (this.seqLen ?? 1);
    for (let row = 0; row < rows; row++) {
      for (let r = r0; r < r0 + nR; r++) {
        const fan = this.graph.fanIn[r]!;
        for (let s = 0; s < fan; s++) if (this.data[(row * S + s) * R + r] !== 0) return true;
      }
    }
    return false;
  }
}
