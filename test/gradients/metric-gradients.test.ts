// d score / d logits of every registry metric against central differences of the metric itself.
import { describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../../src/core/vocabulary.js';
import { CleanRow, getMetric } from '../../src/experiment/metrics.js';
import { scoreGradient } from '../../src/gradients/metric-gradients.js';
import { Random } from '../../src/core/random.js';
import type { PromptPair } from '../../src/tasks/types.js';

const V = 13;
const random = new Random(9);
const block = (n: number): Float64Array => Float64Array.from({ length: n * V }, () => 2 * random.normal());
// A token listed twice counts twice in prob-diff's sums.
// Two targets: a score is the mean over them.
const pair: PromptPair = {
  index: 0,
  clean: [1, 2],
  corrupted: [2, 3],
  targets: [
    { position: 1, answer: 4, wrong: 7 },
    { position: 0, answer: 2, wrong: 11 },
  ],
  keyPositions: [],
  roles: {},
  tokenSets: { greater: [1, 2, 5, 5], notGreater: [0, 3, 9] },
};
const N = pair.targets.length;

describe('metric gradients', () => {
  for (const name of METRIC_NAMES) {
    it(`${name}: equals the central difference of the score`, () => {
      const metric = getMetric(name);
      const clean = new CleanRow(Float32Array.from(block(N)), V);
      const x = block(N);
      // Metrics only index and sum their block: a float64 block keeps the differences exact.
      const score = (r: Float64Array): number => metric.score(r as unknown as Float32Array, pair, clean);
      const grad = scoreGradient(name, Float32Array.from(x), pair, clean);
      const h = 1e-5;
      let scale = 0;
      for (let i = 0; i < N * V; i++) {
        const up = x.slice();
        const down = x.slice();
        up[i]! += h;
        down[i]! -= h;
        const fd = (score(up) - score(down)) / (2 * h);
        scale = Math.max(scale, Math.abs(fd));
        expect(Math.abs(grad[i]! - fd), `${name} logit ${i}`).toBeLessThan(1e-6);
      }
      expect(scale).toBeGreaterThan(1e-3);
    });
  }
});
