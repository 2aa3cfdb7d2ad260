// EAP-IG's greedy selection on a one-layer, one-head graph with hand-set scores: it grows from the
// logits, so a high-scoring edge into a node not yet in the circuit waits (unlike a top-n cut).
import { describe, expect, it } from 'vitest';
import { greedyEdges } from '../../src/circuits/greedy.js';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import { cutScores } from '../../src/methods/attribution.js';

// Senders: input 0, a0.h0 1, m0 2. Receivers: a0.h0<q> 0, <k> 1, <v> 2, m0 3, logits 4 (R = 5).
const graph = ComponentGraph.forModel({ nLayers: 1, nHeads: 1 });
const R = graph.nReceivers;
const scores = new Float32Array(graph.nSenders * R).fill(Number.NaN);
const set = (s: number, r: number, v: number) => (scores[s * R + r] = v);
set(0, 4, 0.1);
set(1, 4, -5);
set(2, 4, 1);
set(0, 3, 4);
set(1, 3, 0.2);
set(0, 0, 3);
set(0, 1, 0.05);
set(0, 2, 2);
const cells = (mask: Uint8Array) => [...mask.keys()].filter((i) => mask[i] === 1).map((i) => graph.edgeName({ sender: Math.floor(i / R), receiver: i % R }));

describe('greedy selection', () => {
  it('by |score|: the head into the logits, then its inputs, before the better-scored edge into the MLP', () => {
    expect(graph.nReceivers).toBe(5);
    expect(cells(greedyEdges(graph, scores, 3, false)).sort()).toEqual(['a0.h0->logits', 'input->a0.h0<q>', 'input->a0.h0<v>'].sort());
    // A top-3 cut by |score| takes input->m0 instead, which then dangles (m0 has no way to the logits).
    expect(cells(cutScores(graph, scores, { topN: 3 })).sort()).toEqual(['a0.h0->logits', 'input->a0.h0<q>'].sort());
  });

  it('by signed score: the MLP into the logits, then its best input', () => {
    expect(cells(greedyEdges(graph, scores, 2, true)).sort()).toEqual(['input->m0', 'm0->logits']);
    expect(cells(cutScores(graph, scores, { topN: 2, greedy: true, signed: true })).sort()).toEqual(['input->m0', 'm0->logits']);
  });

  it('stops when candidates run out', () => {
    expect(cells(greedyEdges(graph, scores, 100, false))).toHaveLength(graph.nEdges);
  });

  it('thresholds: |score| keeps the head path; signed drops the negative head edge, leaving only dangling ones', () => {
    expect(cells(cutScores(graph, scores, { tau: 2 })).sort()).toEqual(['a0.h0->logits', 'input->a0.h0<q>', 'input->a0.h0<v>'].sort());
    expect(cells(cutScores(graph, scores, { tau: 2, signed: true }))).toEqual([]);
  });
});
