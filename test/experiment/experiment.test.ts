// The experiment primitive: groups by token length with every noise sample of a pair together,
// per-pair means over samples, one patched pass scoring several metrics exactly as one metric at a
// time, and a group's runs computed once however many callers ask at the same time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GnCorruption } from '../../src/core/vocabulary.js';
import { Experiment, perPairMeans } from '../../src/experiment/experiment.js';
import { getMetric } from '../../src/experiment/metrics.js';
import { EdgeMasks } from '../../src/runtime/masks.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import type { Dataset } from '../../src/tasks/types.js';
import { smallDataset, smallModel } from '../methods/fixtures.js';

const GN: GnCorruption = { kind: 'gn', noise: { multiplier: 3, samples: 3, seed: 1, sigmaFrom: 'vocabulary' } };

describe('Experiment', () => {
  let pm: PatchableModel;
  // 5 pairs of length 6, then 2 pairs of length 4 (their first four tokens).
  const base = smallDataset(7);
  const dataset: Dataset = {
    ...base,
    pairs: base.pairs.map((p, i) =>
      i < 5 ? p : { ...p, clean: p.clean.slice(0, 4), corrupted: p.corrupted.slice(0, 4), targets: p.targets.map((t) => ({ ...t, position: 3 })), keyPositions: [1], roles: { END: 3 } },
    ),
  };
  beforeAll(() => {
    pm = new PatchableModel(smallModel(), { threads: 1 });
  });
  afterAll(async () => pm.release());

  it('batches pairs by length, keeping every noise sample of a pair in one group', () => {
    const exp = Experiment.plan(pm, dataset, { corruption: GN, batchSize: 7 });
    // 7 rows a group hold 2 pairs of 3 samples each.
    expect(exp.groups.map((g) => g.key)).toEqual(['len4:pairs5-6', 'len6:pairs0-1', 'len6:pairs2-3', 'len6:pairs4-4']);
    expect(exp.groups.map((g) => g.rows.length)).toEqual([6, 6, 6, 3]);
    expect(exp.nRows).toBe(21);
    exp.groups.forEach((g, i) => expect(g.offset).toBe(exp.groups.slice(0, i).reduce((n, x) => n + x.rows.length, 0)));
    for (const g of exp.groups) {
      for (const r of g.rows) expect(r.pair.clean.length).toBe(g.seqLen);
      expect(g.rows.map((r) => r.sample)).toEqual(g.rows.map((_, b) => b % 3));
    }
    // A batch smaller than the samples of one pair still holds that whole pair.
    expect(Experiment.plan(pm, dataset, { corruption: GN, batchSize: 1 }).groups.every((g) => g.rows.length === 3)).toBe(true);
  });

  it("averages a group's per-row values over noise samples, per pair and configuration", () => {
    const exp = Experiment.plan(pm, dataset, { corruption: GN, batchSize: 7 });
    const g = exp.groups[1]!; // pairs 0 and 1, 3 samples each
    const values = Float64Array.from({ length: 2 * 6 }, (_, i) => i);
    expect(perPairMeans(g, values)).toEqual([
      [
        [0, 1],
        [1, 4],
      ],
      [
        [0, 7],
        [1, 10],
      ],
    ]);
  });

  it('scores several metrics from one pass exactly as each alone; base scores equal an empty mask', async () => {
    const exp = Experiment.plan(pm, { ...dataset, pairs: dataset.pairs.slice(0, 5) }, { batchSize: 8 });
    const [g] = exp.groups;
    const masks = EdgeMasks.zeros(pm.graph, 3);
    masks.set(1, pm.graph.headSender(0, 1), pm.graph.logitsReceiver, 1);
    for (const e of pm.graph.edges()) if (e.sender === pm.graph.headSender(1, 0)) masks.set(2, e.sender, e.receiver, 1);
    const metrics = (['kl', 'prob', 'logit-diff'] as const).map(getMetric);
    const passes = exp.passes;
    const together = await exp.scoreGroupMetrics(g!, masks, metrics, { direction: 'noising' });
    expect(exp.passes).toBe(passes + 1);
    for (const [i, m] of metrics.entries()) {
      expect(await exp.scoreGroup(g!, masks, { direction: 'noising', metric: m })).toEqual(together[i]);
      // Configuration 0 patches nothing: the base run (noising: the clean prompt).
      expect(together[i]!.subarray(0, 5)).toEqual(await exp.baseScores(g!, 'noising', m));
    }
    expect(Math.max(...together[0]!.subarray(5).map(Math.abs))).toBeGreaterThan(1e-4);
  });

  it("computes a group's runs once for concurrent callers, and again after release", async () => {
    const exp = Experiment.plan(pm, dataset, { batchSize: 64 });
    const g = exp.groups[0]!;
    const [a, b] = await Promise.all([exp.runsOf(g), exp.runsOf(g)]);
    expect(a).toBe(b);
    exp.release(g);
    const c = await exp.runsOf(g);
    expect(c).not.toBe(a);
    expect(c.clean.logits).toEqual(a.clean.logits);
  });
});
