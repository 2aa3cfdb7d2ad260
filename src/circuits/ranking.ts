// How edges rank by their scores, for every selection made from scores (a top-n cut, a threshold,
// greedy selection, MIB's fractions of edges): by |score|, or by score when signed; a NaN score
// ranks below every other; equal ranks go to graph order (receiver by receiver, senders in order).
import type { ComponentGraph } from '../graph/component-graph.js';

/** The value an edge ranks by: higher is better. */
export function edgeRank(score: number, signed: boolean): number {
  return Number.isNaN(score) ? -Infinity : signed ? score : Math.abs(score);
}

/** [S * R] mask of the `n` best-ranked edges of `scores` ([S * R]); no edges are dropped. */
export function topEdges(graph: ComponentGraph, scores: ArrayLike<number>, n: number, signed: boolean): Uint8Array {
  const R = graph.nReceivers;
  // Array.prototype.sort is stable: cells listed in graph order keep it among equal ranks.
  const cells = [...graph.edges()].map((e) => e.sender * R + e.receiver);
  const rank = cells.map((c) => edgeRank(scores[c]!, signed));
  const order = cells.map((_, i) => i).sort((a, b) => rank[b]! - rank[a]! || a - b);
  const mask = new Uint8Array(graph.nSenders * R);
  for (const i of order.slice(0, n)) mask[cells[i]!] = 1;
  return mask;
}
