// Node attribution (AtP): every component's effect per pair equals the float64 reference's central
// difference of the (normalised) metric along the component's own mask, at M = 0, for granularities
// at every position and per position, in both directions.
import { afterAll, describe, expect, it } from 'vitest';
import type { Direction, GranularityName, MetricName } from '../../src/core/vocabulary.js';
import { getGranularity } from '../../src/experiment/components.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { getMetric } from '../../src/experiment/metrics.js';
import { SILENT } from '../../src/methods/method.js';
import { componentsOf } from '../../src/methods/node-patching.js';
import { nodeAttribution } from '../../src/methods/node-attribution.js';
import { EdgeMasks } from '../../src/runtime/masks.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { Reference, smallDataset, smallModel } from './fixtures.js';

const EPS = 1e-4;

describe('node attribution vs float64 finite differences', () => {
  const model = smallModel();
  const dataset = smallDataset(3);
  const pm = new PatchableModel(model, { threads: 1 });
  const ref = new Reference(model, pm.graph, dataset);
  afterAll(() => pm.release());

  const cases: { granularity: GranularityName; metric: MetricName; direction: Direction }[] = [
    { granularity: 'heads', metric: 'logit-diff', direction: 'noising' },
    { granularity: 'mlp', metric: 'logit-diff', direction: 'denoising' },
    { granularity: 'heads-pos', metric: 'kl', direction: 'denoising' },
    { granularity: 'resid', metric: 'logit-diff', direction: 'denoising' },
  ];
  for (const { granularity, metric, direction } of cases) {
    it(`${granularity}, ${metric}, ${direction}`, async () => {
      const exp = await Experiment.prepare(pm, dataset);
      const settings = { direction, metrics: [getMetric(metric)], granularity: getGranularity(granularity), window: 1 };
      const session = await nodeAttribution.open(exp, settings);
      const g = exp.groups[0]!;
      expect(exp.groups).toHaveLength(1);
      const rows = (await session.run(g.key, SILENT)).get(metric)!;
      const norm = session.baselines.metrics[metric]!.normaliser;
      const comps = componentsOf(exp, settings, g.seqLen);
      expect(rows).toHaveLength(comps.length * dataset.pairs.length);
      let scale = 0;
      let worst = 0;
      for (const c of comps) {
        const m = EdgeMasks.zeros(pm.graph, 1, settings.granularity.perPosition ? g.seqLen : undefined);
        c.apply(m, 0);
        const at = (sign: number) => ref.scores(metric, direction, (s, r, t) => (pm.graph.hasEdge(s, r) ? sign * EPS * m.get(0, s, r, m.perPosition ? t : undefined) : 0));
        const up = at(1);
        const down = at(-1);
        dataset.pairs.forEach((p, i) => {
          const want = (up[i]! - down[i]!) / (2 * EPS) / norm;
          const got = rows.find((x) => x.component === c.name && x.prompt === p.index)!.value;
          scale = Math.max(scale, Math.abs(want));
          worst = Math.max(worst, Math.abs(got - want));
        });
      }
      expect(scale).toBeGreaterThan(1e-3);
      expect(worst).toBeLessThanOrEqual(1e-4 * scale);
    });
  }
});
