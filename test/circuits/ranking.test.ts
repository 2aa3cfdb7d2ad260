// The one ranking of edges by score that every selection uses (top-n cuts, thresholds, greedy, MIB).
import { describe, expect, it } from 'vitest';
import { edgeRank, topEdges } from '../../src/circuits/ranking.js';
import { ComponentGraph } from '../../src/graph/component-graph.js';

const g = new ComponentGraph({ nLayers: 1, nHeads: 1 });
const R = g.nReceivers;
const scoresOf = (byName: Record<string, number>): Float32Array => {
  const s = new Float32Array(g.nSenders * R).fill(Number.NaN);
  for (const [name, v] of Object.entries(byName)) {
    const e = g.parseEdge(name);
    s[e.sender * R + e.receiver] = v;
  }
  return s;
};
const chosen = (mask: Uint8Array): string[] => [...g.edges()].filter((e) => mask[e.sender * R + e.receiver] === 1).map((e) => g.edgeName(e));

describe('edge ranking', () => {
  it('ranks by |score|, or by score when signed, with NaN below everything', () => {
    expect(edgeRank(-0.5, false)).toBe(0.5);
    expect(edgeRank(-0.5, true)).toBe(-0.5);
    expect(edgeRank(Number.NaN, false)).toBe(-Infinity);
    expect(edgeRank(Number.NaN, true)).toBe(-Infinity);
  });

  it('takes the n best edges, |score| or signed', () => {
    const s = scoresOf({ 'input->m0': -0.5, 'm0->logits': 0.3, 'a0.h0->logits': 0.1 });
    expect(chosen(topEdges(g, s, 2, false))).toEqual(['input->m0', 'm0->logits'].sort((a, b) => order(a) - order(b)));
    expect(chosen(topEdges(g, s, 2, true))).toEqual(['m0->logits', 'a0.h0->logits'].sort((a, b) => order(a) - order(b)));
  });

  it('breaks ties in graph order (receiver by receiver), unscored edges last', () => {
    // Every edge scores 1 but one NaN: the first n edges of graph order that are scored win.
    const all = [...g.edges()].map((e) => g.edgeName(e));
    const s = scoresOf(Object.fromEntries(all.map((n) => [n, 1])));
    const first = g.parseEdge(all[0]!);
    s[first.sender * R + first.receiver] = Number.NaN;
    expect(chosen(topEdges(g, s, 3, false))).toEqual(all.slice(1, 4));
    expect(chosen(topEdges(g, s, all.length, false))).toEqual(all);
  });
});

function order(name: string): number {
  return [...g.edges()].findIndex((e) => g.edgeName(e) === name);
}
