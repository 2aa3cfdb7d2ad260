// ACDC under ablations on the planted induction model, against what each ablation can see (its
// ground truth's ablationEdges): resampling another prompt of the same length keeps every
// position's information, so it finds exactly the token edges and scores the position-only edges
// 0 (to within 1e-6: float rounding); zero ablation removes position too, so it also finds the previous-token head's query
// and key (whose attention pattern is position).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Corruption } from '../../src/core/vocabulary.js';
import { confusion } from '../../src/evaluation/evaluate.js';
import { truthFor } from '../../src/evaluation/ground-truth.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { acdc, circuitEdges } from '../../src/methods/acdc.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { plantInductionModel } from '../../src/synthetic/planted.js';
import { inductionTask } from '../../src/tasks/induction.js';

describe('ACDC under ablations on the planted induction model', () => {
  const { model, groundTruth } = plantInductionModel({ seed: 0 });
  // 8 pairs of one length (a 5-token sequence and its first 4 tokens again): resampling partners exist.
  const dataset = inductionTask.build(
    { vocabSize: model.config.vocabSize, dataDir: '' },
    inductionTask.parseOptions({ length: 5, cut: 'last' }, 'options'),
    { kind: 'str', variant: 'all-random' },
    3,
    8,
  );
  let pm: PatchableModel;
  beforeAll(() => {
    pm = new PatchableModel(model, { threads: 1 });
  });
  afterAll(async () => pm.release());

  const discover = async (corruption: Corruption) => {
    const exp = await Experiment.prepare(pm, dataset, { corruption });
    return acdc(exp, { tau: 0.1, metric: 'kl', direction: 'noising' });
  };
  const edgeScore = (r: { scores: Float32Array | Float64Array }, name: string): number => {
    const e = pm.graph.parseEdge(name);
    return r.scores[e.sender * pm.graph.nReceivers + e.receiver]!;
  };

  it('resampling recovers exactly the token edges and scores every position-only edge 0 (to float rounding)', async () => {
    const c: Corruption = { kind: 'resample', seed: 0 };
    const truth = truthFor(groundTruth, c);
    expect(truth).toBe(groundTruth);
    const r = await discover(c);
    expect(
      circuitEdges(r)
        .map((e) => pm.graph.edgeName(e))
        .sort(),
    ).toEqual([...groundTruth.edges].sort());
    // 0 up to float rounding: the damage is the difference of two runs that compute the same thing in a different order.
    for (const e of groundTruth.positionalEdges) expect(Math.abs(edgeScore(r, e)), e).toBeLessThan(1e-6);
    expect(confusion(pm.graph, r.inCircuit, truth)).toMatchObject({ tp: 5, fp: 0, fn: 0 });
  }, 120_000);

  it("zero ablation recovers exactly its set: the token edges plus the previous-token head's query and key", async () => {
    const c: Corruption = { kind: 'zero' };
    const truth = truthFor(groundTruth, c);
    expect([...truth.edges].sort()).toEqual([...groundTruth.edges, 'input->a0.h3<q>', 'input->a0.h3<k>'].sort());
    expect(truth.positionalEdges).toEqual(['input->a1.h7<k>']);
    const r = await discover(c);
    expect(
      circuitEdges(r)
        .map((e) => pm.graph.edgeName(e))
        .sort(),
    ).toEqual([...truth.edges].sort());
    // Under zero ablation the previous-token head's position inputs matter; under resampling they do not.
    expect(edgeScore(r, 'input->a0.h3<q>')).toBeGreaterThan(1);
    expect(confusion(pm.graph, r.inCircuit, truth)).toMatchObject({ tp: 7, fp: 0, fn: 0 });
  }, 120_000);
});
