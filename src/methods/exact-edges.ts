// The `exact` edge scores EAP-IG compares attributions with: the true effect of patching each edge
// alone, mean over rows of s(patched) - s(base) (same sign convention as the attributions: the
// base run is the direction's, the edge carries the other run's sender value). One configuration
// per edge through Experiment's patched runs; configurations are batched by their receiver's layer,
// so each pass starts at that layer from the base run's cache (prefix reuse).
import type { Direction } from '../core/vocabulary.js';
import type { Experiment } from '../experiment/experiment.js';
import type { Metric } from '../experiment/metrics.js';
import { EdgeMasks } from '../runtime/masks.js';

export interface ExactEdgeOptions {
  readonly metric: Metric;
  readonly direction: Direction;
  /** Edges per pass (default 32). */
  readonly batch?: number;
  /** Bound on configurations x rows per runtime pass. */
  readonly maxRows?: number;
}

/** Dense [S * R] effects of patching each edge alone; NaN where s -> r is not an edge. */
export async function exactEdgeEffects(exp: Experiment, opts: ExactEdgeOptions): Promise<Float64Array> {
  const graph = exp.model.graph;
  const { nSenders: S, nReceivers: R } = graph;
  exp.checkMetric(opts.metric);
  let base = 0;
  for (const g of exp.groups) for (const v of await exp.baseScores(g, opts.direction, opts.metric)) base += v;
  base /= exp.nRows;

  const byLayer = new Map<number, number[]>();
  for (const e of graph.edges()) {
    const layer = graph.receiverLayer(e.receiver);
    const cells = byLayer.get(layer) ?? [];
    cells.push(e.sender * R + e.receiver);
    byLayer.set(layer, cells);
  }
  const K = Math.max(1, Math.floor(opts.batch ?? 32));
  const out = new Float64Array(S * R).fill(NaN);
  for (const cells of byLayer.values()) {
    for (let i = 0; i < cells.length; i += K) {
      const chunk = cells.slice(i, i + K);
      const data = new Float32Array(chunk.length * S * R);
      chunk.forEach((c, k) => (data[k * S * R + c] = 1));
      const means = await exp.meanScores(EdgeMasks.fromData(graph, chunk.length, data), { direction: opts.direction, metric: opts.metric, maxRows: opts.maxRows });
      chunk.forEach((c, k) => (out[c] = means[k]! - base));
    }
  }
  return out;
}
