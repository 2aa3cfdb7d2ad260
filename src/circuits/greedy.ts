// EAP-IG's greedy selection of a connected circuit from edge scores: start from the logits; the
// candidates are the edges into nodes already in the circuit; repeatedly take the best candidate
// (by |score|, or by score when signed), and when its sender's node is new, that node's incoming
// edges become candidates too. Unlike a plain top-n cut, every chosen edge leads to the logits.
import type { ComponentGraph } from '../graph/component-graph.js';
import { receiverFeeds } from './circuit.js';
import { edgeRank } from './ranking.js';

/** [S * R] mask of the `n` edges greedy selection takes (fewer when candidates run out first). */
export function greedyEdges(graph: ComponentGraph, scores: ArrayLike<number>, n: number, signed: boolean): Uint8Array {
  const S = graph.nSenders;
  const R = graph.nReceivers;
  const feeds = receiverFeeds(graph);
  // Receivers of each sender's node (a head: its q, k and v inputs; an MLP: its input).
  const inputsOf: number[][] = Array.from({ length: S }, () => []);
  feeds.forEach((s, r) => {
    if (s >= 0) inputsOf[s]!.push(r);
  });
  const key = (cell: number): number => edgeRank(scores[cell]!, signed);
  const heap = new MaxHeap(key);
  const addInputs = (r: number): void => {
    for (let s = 0; s < graph.fanIn[r]!; s++) heap.push(s * R + r);
  };
  addInputs(graph.logitsReceiver);
  const inCircuit = new Uint8Array(S * R);
  const nodeIn = new Uint8Array(S);
  for (let taken = 0; taken < n && heap.size > 0; taken++) {
    const cell = heap.pop();
    inCircuit[cell] = 1;
    const sender = Math.floor(cell / R);
    if (nodeIn[sender]) continue;
    nodeIn[sender] = 1;
    for (const r of inputsOf[sender]!) addInputs(r);
  }
  return inCircuit;
}

/** A binary max-heap of cells by key; ties go to the smaller cell (graph order), for determinism. */
class MaxHeap {
  private readonly items: number[] = [];

  constructor(private readonly key: (cell: number) => number) {}

  get size(): number {
    return this.items.length;
  }

  private before(a: number, b: number): boolean {
    const ka = this.key(a);
    const kb = this.key(b);
    return ka > kb || (ka === kb && a < b);
  }

  push(cell: number): void {
    const h = this.items;
    h.push(cell);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  pop(): number {
    const h = this.items;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < h.length && this.before(h[l]!, h[best]!)) best = l;
        if (r < h.length && this.before(h[r]!, h[best]!)) best = r;
        if (best === i) break;
        [h[i], h[best]] = [h[best]!, h[i]!];
        i = best;
      }
    }
    return top;
  }
}
