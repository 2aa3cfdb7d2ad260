// `exact` edge scores: the runtime's effect of patching each edge alone equals the float64
// reference's, in both directions.
import { afterAll, describe, expect, it } from 'vitest';
import type { Direction } from '../../src/core/vocabulary.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { getMetric } from '../../src/experiment/metrics.js';
import { edgeMask } from '../reference/patched-forward.js';
import { exactEdgeEffects } from '../../src/methods/exact-edges.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { Reference, smallDataset, smallModel } from './fixtures.js';

describe('exact edge effects', () => {
  const model = smallModel();
  const dataset = smallDataset(3);
  const pm = new PatchableModel(model, { threads: 1 });
  const ref = new Reference(model, pm.graph, dataset);
  afterAll(() => pm.release());

  for (const direction of ['noising', 'denoising'] as Direction[]) {
    it(`${direction}, logit-diff: every edge equals the reference`, async () => {
      const exp = await Experiment.prepare(pm, dataset);
      const got = await exactEdgeEffects(exp, { metric: getMetric('logit-diff'), direction, batch: 7 });
      const g = pm.graph;
      const R = g.nReceivers;
      const base = ref.mean('logit-diff', direction, () => 0);
      let scale = 0;
      const want = new Map<number, number>();
      for (const e of g.edges()) {
        const v = ref.mean('logit-diff', direction, edgeMask([{ sender: e.sender, receiver: e.receiver }])) - base;
        want.set(e.sender * R + e.receiver, v);
        scale = Math.max(scale, Math.abs(v));
      }
      expect(scale).toBeGreaterThan(1e-2);
      for (const [c, v] of want) expect(Math.abs(got[c]! - v), g.edgeName({ sender: Math.floor(c / R), receiver: c % R })).toBeLessThan(1e-4 * Math.max(1, scale));
      for (let c = 0; c < got.length; c++) if (!want.has(c)) expect(got[c]).toBeNaN();
    });
  }
});
