// compareCircuits on hand-built circuits: exact edge and node sets, Jaccard indices, score lookups
// across sides, and the settings that differ.
import { describe, expect, it } from 'vitest';
import { compareCircuits } from '../../src/circuits/compare.js';
import { jaccard, setJaccard } from '../../src/evaluation/measures.js';
import { build } from './build.js';

const shape = { nLayers: 2, nHeads: 2 };

describe('compareCircuits', () => {
  const a = build(
    shape,
    ['input->a0.h0<q>', 'a0.h0->m1', 'm1->logits', 'input->m0', 'm0->logits'],
    { 'input->a0.h0<q>': 0.9, 'a0.h0->m1': 0.5, 'm1->logits': 0.7, 'input->m0': -0.2, 'm0->logits': 0.3, 'a1.h1->logits': 0.05 },
    { method: 'eap-ig', metric: 'kl', threshold: 0.2, faithfulness: 0.9, extra: { steps: 5 } },
  );
  const b = build(
    shape,
    ['input->a0.h0<q>', 'a0.h0->m1', 'm1->logits', 'input->a1.h1<k>', 'a1.h1->logits'],
    { 'input->a0.h0<q>': 0.8, 'a0.h0->m1': 0.4, 'm1->logits': -0.6, 'input->a1.h1<k>': 0.25, 'a1.h1->logits': 0.35 },
    { method: 'acdc', metric: 'kl', threshold: 0.05 },
  );

  it('splits edges and nodes into both / only A / only B with exact Jaccard indices', () => {
    const r = compareCircuits(a, b);
    // 3 shared edges of 5 + 5 - 3 = 7.
    expect(r.edges.jaccard).toBe(3 / 7);
    expect(r.edges.both.map((e) => e.name)).toEqual(['input->a0.h0<q>', 'm1->logits', 'a0.h0->m1']); // by max |score|
    expect(r.edges.onlyA.map((e) => [e.name, e.scoreA])).toEqual([
      ['m0->logits', Math.fround(0.3)],
      ['input->m0', Math.fround(-0.2)],
    ]);
    // B's score of an edge only A has: unscored in B.
    expect(r.edges.onlyA[0]!.scoreB).toBeNaN();
    expect(r.edges.onlyB.map((e) => [e.name, e.scoreB, e.scoreA])).toEqual([
      ['a1.h1->logits', Math.fround(0.35), Math.fround(0.05)],
      ['input->a1.h1<k>', Math.fround(0.25), NaN],
    ]);
    // Nodes A: input a0.h0 m0 m1 logits; B: input a0.h0 a1.h1 m1 logits. 4 shared of 6.
    expect(r.nodes).toEqual({ both: ['input', 'a0.h0', 'm1', 'logits'], onlyA: ['m0'], onlyB: ['a1.h1'], jaccard: 4 / 6 });
    expect(r.size).toEqual({ a: 5, b: 5 });
    expect(r.faithfulness).toEqual({ a: 0.9, b: null });
    expect(r.differences).toEqual([
      { field: 'extra.steps', a: 5, b: undefined },
      { field: 'method', a: 'eap-ig', b: 'acdc' },
      { field: 'threshold', a: 0.2, b: 0.05 },
    ]);
  });

  it('compares stored settings leaf by leaf, and circuits of different shapes by name', () => {
    const r = compareCircuits(a, a, { settingsA: { corruption: { kind: 'str', variant: 'abc' }, n: 1 }, settingsB: { corruption: { kind: 'str', variant: 'baba' }, n: 1 } });
    expect(r.edges.jaccard).toBe(1);
    expect(r.differences).toEqual([{ field: 'settings.corruption.variant', a: 'abc', b: 'baba' }]);
    const big = build({ nLayers: 3, nHeads: 2 }, ['input->a0.h0<q>', 'a0.h0->m1', 'm1->logits', 'a2.h1->logits'], { 'a2.h1->logits': 1 });
    const r2 = compareCircuits(a, big);
    expect(r2.edges.jaccard).toBe(3 / 6);
    expect(r2.edges.onlyB.find((e) => e.name === 'a2.h1->logits')!.scoreA).toBeNaN(); // not an edge of A's graph
    expect(r2.differences.find((d) => d.field === 'graph')).toEqual({ field: 'graph', a: '2 layers x 2 heads', b: '3 layers x 2 heads' });
  });

  it('defines the Jaccard index of two empty sets as 1', () => {
    expect(jaccard(0, 0, 0)).toBe(1);
    expect(setJaccard(new Set(), new Set())).toBe(1);
    expect(setJaccard(new Set(['x', 'y', 'z']), new Set(['y', 'z', 'w']))).toBe(jaccard(2, 3, 3));
    const e = build(shape, []);
    expect(compareCircuits(e, e).edges.jaccard).toBe(1);
    expect(compareCircuits(e, a).edges.jaccard).toBe(0);
  });
});
