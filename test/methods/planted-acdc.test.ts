// Circuit discovery against a known answer: on the planted induction model, ACDC with KL (noising,
// the induction task's `all-random` corruption, where every token changes) recovers the planted
// edges. The ground truth's `positionalEdges` (the previous-token head's q and k, the induction
// head's k input from `input`) carry only position information, identical in clean and corrupted
// prompts, so no patching method can see them: they are excluded from both the positives and the
// negatives. Patching them is harmless too (same positions), so the faithfulness of the found
// circuit is not hurt by their absence.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AcdcResult, acdc, acdcCircuit, acdcSweep, circuitEdges } from '../../src/methods/acdc.js';
import { confusion, edgeScoreAuc, faithfulness, randomBaseline, sweepRoc } from '../../src/evaluation/evaluate.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { plantInductionModel } from '../../src/synthetic/planted.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { inductionTask } from '../../src/tasks/induction.js';

describe('ACDC on the planted induction model', () => {
  const { model, groundTruth } = plantInductionModel({ seed: 0 });
  // 16 pairs: a 5-token sequence and its first 4 tokens again (9 tokens), every token corrupted.
  const dataset = inductionTask.build(
    { vocabSize: model.config.vocabSize, dataDir: '' },
    inductionTask.parseOptions({ length: 5, cut: 'last' }, 'options'),
    { kind: 'str', variant: 'all-random' },
    3,
    16,
  );
  let pm: PatchableModel;
  let runs: Experiment;
  let sweep: AcdcResult[];
  const taus = [1e-3, 1e-2, 0.1, 1];
  beforeAll(async () => {
    pm = new PatchableModel(model, { threads: 1 });
    runs = await Experiment.prepare(pm, dataset);
    sweep = await acdcSweep(runs, taus, { metric: 'kl', direction: 'noising', batch: 8 });
  });
  afterAll(async () => pm.release());

  it('recovers the planted edges across a threshold sweep: ROC-AUC >= 0.95 (sweep and scores)', () => {
    const g = pm.graph;
    const roc = sweepRoc(g, sweep, groundTruth);
    expect(roc.auc).toBeGreaterThanOrEqual(0.95);
    for (const r of sweep) {
      expect(edgeScoreAuc(g, r.scores, groundTruth)).toBeGreaterThanOrEqual(0.95);
      expect(r.complete).toBe(true);
    }
    // At a sensible threshold the circuit is exactly the planted one.
    const at = sweep[taus.indexOf(1e-2)]!;
    expect(
      circuitEdges(at)
        .map((e) => g.edgeName(e))
        .sort(),
    ).toEqual([...groundTruth.edges].sort());
    expect(confusion(g, at.inCircuit, groundTruth)).toMatchObject({ tp: 5, fp: 0, fn: 0 });
    const circuit = acdcCircuit(at);
    expect(circuit.size).toBe(5);
    expect(circuit.nodes()).toEqual(['input', 'a0.h3', 'a1.h7', 'logits']);
    expect(circuit.meta).toMatchObject({ method: 'acdc', metric: 'kl', direction: 'noising', threshold: 1e-2 });
  });

  it('the recovered circuit is faithful (>= 0.9, logit difference) and far above random circuits of its size', async () => {
    const at = sweep[taus.indexOf(1e-2)]!;
    const f = await faithfulness(runs, [acdcCircuit(at)], { metric: 'logit-diff' });
    expect(f.faithfulness[0]).toBeGreaterThanOrEqual(0.9);
    const random = await randomBaseline(runs, at.nEdges, { samples: 8, seed: 1, metric: 'logit-diff' });
    expect(random.max).toBeLessThan(0.5);
  });

  it('node-level ACDC keeps input, the previous-token head and the induction head', async () => {
    const r = await acdc(runs, { tau: 0.1, level: 'node' });
    const kept = r.log
      .filter((d) => !d.pruned)
      .map((d) => d.name)
      .sort();
    expect(kept).toEqual(['a0.h3', 'a1.h7', 'input']);
  });
});
