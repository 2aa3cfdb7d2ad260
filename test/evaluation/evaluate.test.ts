// Circuit evaluation: the AUC and ROC arithmetic on hand-made examples, precision/recall, and
// faithfulness on a small random GPT-2 (full circuit exactly 1, empty exactly 0, a random circuit's
// m(C) against the float64 reference), random baselines.
import { trapezoidAuc } from '../../src/evaluation/measures.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confusion, countEdges, edgeScoreAuc, edgeSetMask, faithfulness, faithfulnessCurve, randomBaseline, randomCircuit, rankAuc, sweepRoc } from '../../src/evaluation/evaluate.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { Reference, smallDataset, smallModel } from '../methods/fixtures.js';

describe('AUC and ROC arithmetic', () => {
  it('Mann-Whitney AUC on hand examples (ties count one half)', () => {
    expect(rankAuc([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0])).toBe(0.75);
    expect(rankAuc([4, 3, 2, 1], [1, 1, 0, 0])).toBe(1);
    expect(rankAuc([1, 2, 3, 4], [1, 1, 0, 0])).toBe(0);
    expect(rankAuc([1, 1], [true, false])).toBe(0.5);
    // Positives 3 and 2 (tied with a negative); negatives 2 and 1: (1 + 1 + 0.5 + 1) / 4.
    expect(rankAuc([3, 2, 2, 1], [1, 1, 0, 0])).toBe(0.875);
    expect(rankAuc([1, 2], [1, 1])).toBeNaN();
  });

  it('trapezoid AUC closes the curve with (0, 0) and (1, 1)', () => {
    expect(
      trapezoidAuc([
        { fpr: 0, tpr: 0.5 },
        { fpr: 0.5, tpr: 1 },
      ]),
    ).toBe(0.875);
    expect(trapezoidAuc([])).toBe(0.5);
    expect(trapezoidAuc([{ fpr: 0, tpr: 1 }])).toBe(1);
    expect(
      trapezoidAuc([
        { fpr: 0.5, tpr: 0.5 },
        { fpr: 0.25, tpr: 0.5 },
      ]),
    ).toBe(0.5625);
  });

  it('confusion, edge-score AUC and sweep ROC against a ground truth with excluded edges', () => {
    const g = new ComponentGraph({ nLayers: 1, nHeads: 1 });
    // Edges: input->a0.h0<q|k|v>, input->m0, a0.h0->m0, input->logits, a0.h0->logits, m0->logits.
    expect(g.nEdges).toBe(8);
    const truth = { edges: ['input->a0.h0<v>', 'a0.h0->logits'], positionalEdges: ['input->a0.h0<q>'] };
    const circuit = edgeSetMask(g, ['input->a0.h0<v>', 'input->a0.h0<q>', 'm0->logits']);
    expect(countEdges(g, circuit)).toBe(3);
    expect(confusion(g, circuit, truth)).toEqual({ tp: 1, fp: 1, fn: 1, tn: 4, precision: 0.5, recall: 0.5, fpr: 0.2 });
    const scores = new Float32Array(g.nSenders * g.nReceivers).fill(NaN);
    const set = (name: string, v: number) => {
      const e = g.parseEdge(name);
      scores[e.sender * g.nReceivers + e.receiver] = v;
    };
    set('input->a0.h0<v>', -3); // |score| ranks: the sign does not matter
    set('a0.h0->logits', 2);
    set('m0->logits', 2.5);
    set('input->m0', 0.1);
    set('input->a0.h0<q>', 100); // excluded: ignored
    // Positives 3 and 2 against negatives 2.5, 0.1 and three never tried (lowest): (5 + 4) / 10.
    expect(edgeScoreAuc(g, scores, truth)).toBeCloseTo(0.9, 12);
    const roc = sweepRoc(
      g,
      [
        { inCircuit: circuit, tau: 1 },
        { inCircuit: edgeSetMask(g, truth.edges), tau: 0.5 },
      ],
      truth,
    );
    expect(roc.points).toEqual([
      { threshold: 1, size: 3, faithfulness: null, fpr: 0.2, tpr: 0.5 },
      { threshold: 0.5, size: 2, faithfulness: null, fpr: 0, tpr: 1 },
    ]);
    // (0, 0), (0, 1), (0.2, 0.5), (1, 1): 0 + 0.2 * 0.75 + 0.8 * 0.75.
    expect(roc.auc).toBeCloseTo(0.75, 12);
    expect(() => confusion(g, circuit, { edges: ['input->a0.h0<q>'], positionalEdges: ['input->a0.h0<q>'] })).toThrow(/both/);
  });

  it('random circuits are seeded, of the requested size', () => {
    const g = new ComponentGraph({ nLayers: 2, nHeads: 3 });
    const a = randomCircuit(g, 10, 5);
    expect(countEdges(g, a)).toBe(10);
    expect(randomCircuit(g, 10, 5)).toEqual(a);
    expect(randomCircuit(g, 10, 6)).not.toEqual(a);
    expect(countEdges(g, randomCircuit(g, g.nEdges, 1))).toBe(g.nEdges);
    expect(() => randomCircuit(g, g.nEdges + 1, 1)).toThrow();
  });
});

describe('faithfulness on a small random GPT-2', () => {
  const model = smallModel();
  const dataset = smallDataset(4);
  let pm: PatchableModel;
  let runs: Experiment;
  beforeAll(async () => {
    pm = new PatchableModel(model, { threads: 1 });
    runs = await Experiment.prepare(pm, dataset);
  });
  afterAll(async () => pm.release());

  for (const direction of ['noising', 'denoising'] as const) {
    for (const metric of ['logit-diff', 'kl', 'prob'] as const) {
      it(`${direction}, ${metric}: full circuit = 1 and empty = 0 exactly; a random circuit's m(C) matches the reference`, async () => {
        const g = pm.graph;
        const R = g.nReceivers;
        const full = edgeSetMask(g, g.edges());
        const empty = new Uint8Array(g.nSenders * R);
        const some = randomCircuit(g, 12, 3);
        const res = await faithfulness(runs, [full, empty, some, full], { direction, metric, batch: 2 });
        expect(res.faithfulness[0]).toBe(1);
        expect(res.faithfulness[1]).toBe(0);
        expect(res.faithfulness[3]).toBe(1);
        const ref = new Reference(model, g, dataset);
        const inC = (s: number, r: number) => g.hasEdge(s, r) && some[s * R + r] === 1;
        const mC = ref.mean(metric, direction, (s, r) => (g.hasEdge(s, r) && (direction === 'noising' ? !inC(s, r) : inC(s, r)) ? 1 : 0));
        expect(Math.abs(res.values[2]! - mC)).toBeLessThan(1e-4);
        const mFull = ref.mean(metric, direction, (s, r) => (direction === 'noising' ? 0 : g.hasEdge(s, r) ? 1 : 0));
        expect(Math.abs(res.full - mFull)).toBeLessThan(1e-4);
        if (metric === 'kl' && direction === 'noising') expect(Math.abs(res.full)).toBeLessThan(1e-9);
      });
    }
  }

  it('faithfulness curve (sorted by size) and random baselines (mean and spread of their samples)', async () => {
    const g = pm.graph;
    const circuits = [12, 3, 30].map((n, i) => ({ inCircuit: randomCircuit(g, n, i), tau: i }));
    const { points, result } = await faithfulnessCurve(runs, circuits);
    expect(result.metric).toBe('logit-diff');
    expect(points.map((p) => p.size)).toEqual([3, 12, 30]);
    expect(points.map((p) => p.threshold)).toEqual([1, 0, 2]);
    expect(points.map((p) => p.faithfulness)).toEqual([1, 0, 2].map((i) => result.faithfulness[i]));
    const base = await randomBaseline(runs, 12, { samples: 6, seed: 4 });
    expect(base.faithfulness).toHaveLength(6);
    const mean = base.faithfulness.reduce((a, b) => a + b, 0) / 6;
    expect(base.mean).toBeCloseTo(mean, 12);
    expect(base.std).toBeGreaterThan(0);
    expect(base.min).toBeLessThanOrEqual(base.mean);
    expect((await randomBaseline(runs, 12, { samples: 6, seed: 4 })).faithfulness).toEqual(base.faithfulness);
  });
});
