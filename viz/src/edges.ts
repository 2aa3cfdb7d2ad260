// Edge-order arrays of a component graph, and re-cutting a circuit from its scores in that order.
// The data files hold one entry per real edge in ComponentGraph.edges() order, so the viewer works
// in edge indices k, never in [sender x receiver] offsets. Pure (no DOM): the tests use it too.
import { ComponentGraph } from '../../src/graph/component-graph.js';

export interface EdgeIndex {
  readonly graph: ComponentGraph;
  readonly nEdges: number;
  /** Sender of edge k. */
  readonly sender: Int32Array;
  /** Receiver of edge k. */
  readonly receiver: Int32Array;
  /** First edge of receiver r; edges of r are [start[r], start[r + 1]). */
  readonly start: Int32Array;
  /** The sender a receiver's node writes (q/k/v -> the head, mlp in -> mlp out); -1 for logits. */
  readonly feeds: Int32Array;
}

const cache = new Map<string, EdgeIndex>();

export function edgeIndex(nLayers: number, nHeads: number): EdgeIndex {
  const key = `${nLayers}x${nHeads}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const graph = new ComponentGraph({ nLayers, nHeads });
  const R = graph.nReceivers;
  const sender = new Int32Array(graph.nEdges);
  const receiver = new Int32Array(graph.nEdges);
  const start = new Int32Array(R + 1);
  let k = 0;
  for (let r = 0; r < R; r++) {
    start[r] = k;
    for (let s = 0; s < graph.fanIn[r]!; s++, k++) {
      sender[k] = s;
      receiver[k] = r;
    }
  }
  start[R] = k;
  const feeds = new Int32Array(R);
  graph.receivers.forEach((r, i) => {
    feeds[i] = r.kind === 'head-input' ? graph.headSender(r.layer, r.head) : r.kind === 'mlp' ? graph.mlpSender(r.layer) : -1;
  });
  const idx: EdgeIndex = { graph, nEdges: graph.nEdges, sender, receiver, start, feeds };
  cache.set(key, idx);
  return idx;
}

/**
 * Keeps an edge only if it lies on an input -> logits path of kept edges (the same rule as
 * Circuit.pruneDeadEnds): a forward sweep for reachability from input, a backward one for reaching
 * logits; one of each suffices because receivers are in stage order.
 */
export function pruneDeadEnds(ix: EdgeIndex, mask: Uint8Array): Uint8Array {
  const g = ix.graph;
  const S = g.nSenders;
  const R = g.nReceivers;
  const reach = new Uint8Array(S);
  reach[0] = 1;
  for (let r = 0; r < R; r++) {
    let live = false;
    for (let k = ix.start[r]!; k < ix.start[r + 1]! && !live; k++) live = mask[k] === 1 && reach[ix.sender[k]!] === 1;
    const f = ix.feeds[r]!;
    if (live && f >= 0) reach[f] = 1;
  }
  const coreachS = new Uint8Array(S);
  const coreachR = new Uint8Array(R);
  for (let r = R - 1; r >= 0; r--) {
    const f = ix.feeds[r]!;
    coreachR[r] = f < 0 ? 1 : coreachS[f]!;
    if (coreachR[r] === 0) continue;
    for (let k = ix.start[r]!; k < ix.start[r + 1]!; k++) if (mask[k] === 1) coreachS[ix.sender[k]!] = 1;
  }
  const out = new Uint8Array(ix.nEdges);
  for (let k = 0; k < ix.nEdges; k++) if (mask[k] === 1 && reach[ix.sender[k]!] === 1 && coreachR[ix.receiver[k]!] === 1) out[k] = 1;
  return out;
}

/** Edges with |score| >= tau (unscored never), then dead ends dropped: Circuit.withThreshold's mask. */
export function thresholdMask(ix: EdgeIndex, scores: Float32Array, tau: number): Uint8Array {
  const mask = new Uint8Array(ix.nEdges);
  for (let k = 0; k < ix.nEdges; k++) if (Math.abs(scores[k]!) >= tau) mask[k] = 1;
  return pruneDeadEnds(ix, mask);
}

export function countOnes(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i]!;
  return n;
}

/** Names of the nodes an edge set touches (Circuit.nodes' rule), graph order, logits last. */
export function maskNodes(ix: EdgeIndex, mask: Uint8Array): string[] {
  const g = ix.graph;
  const touched = new Uint8Array(g.nSenders);
  let logits = false;
  for (let k = 0; k < ix.nEdges; k++) {
    if (mask[k] !== 1) continue;
    touched[ix.sender[k]!] = 1;
    const f = ix.feeds[ix.receiver[k]!]!;
    if (f >= 0) touched[f] = 1;
    else logits = true;
  }
  const names = g.senders.filter((s) => touched[s.index] === 1).map((s) => s.name);
  if (logits) names.push('logits');
  return names;
}

/** |scores| of the scored edges, largest first: the slider's scale (rank k keeps the k largest). */
export function sortedMagnitudes(scores: Float32Array): Float32Array {
  let n = 0;
  for (let k = 0; k < scores.length; k++) if (!Number.isNaN(scores[k]!)) n++;
  const out = new Float32Array(n);
  let i = 0;
  for (let k = 0; k < scores.length; k++) if (!Number.isNaN(scores[k]!)) out[i++] = Math.abs(scores[k]!);
  out.sort();
  out.reverse();
  return out;
}

/** Number of scored edges with |score| >= tau (binary search in the descending magnitudes). */
export function countAtLeast(sortedDesc: Float32Array, tau: number): number {
  let lo = 0;
  let hi = sortedDesc.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sortedDesc[mid]! >= tau) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
