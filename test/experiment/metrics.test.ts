// The KL metric against KL computed from its definition, sum_i p_i log(p_i / q_i), in float64.
import { describe, expect, it } from 'vitest';
import { Random } from '../../src/core/random.js';
import { CleanRow, getMetric, logSoftmax } from '../../src/experiment/metrics.js';
import type { PromptPair } from '../../src/tasks/types.js';

const V = 50;
const pair: PromptPair = { index: 0, clean: [1], corrupted: [2], targets: [{ position: 0, answer: 3 }], keyPositions: [], roles: {}, tokenSets: {} };

function klByDefinition(clean: Float32Array, row: Float32Array): number {
  const lp = logSoftmax(clean);
  const lq = logSoftmax(row);
  let kl = 0;
  for (let i = 0; i < V; i++) if (Math.exp(lp[i]!) > 0) kl += Math.exp(lp[i]!) * (lp[i]! - lq[i]!);
  return kl;
}

describe('kl metric', () => {
  const random = new Random(3);
  const logits = (scale: number, offset: number) => Float32Array.from({ length: V }, () => offset + scale * random.normal());
  const cases: [string, Float32Array, Float32Array][] = [
    ['ordinary logits', logits(2, 0), logits(2, 0)],
    ['logits far from 0 (the clean terms must not cancel badly)', logits(2, 800), logits(2, 800)],
    ['a clean probability that underflows to 0', Float32Array.from(logits(2, 0), (x, i) => (i === 7 ? -1e5 : x)), logits(2, 0)],
    ['a patched row equal to the clean row', logits(3, 0), new Float32Array(0)],
  ];
  for (const [name, clean, patched] of cases) {
    it(`score is -KL(P_clean || P): ${name}`, () => {
      const row = patched.length > 0 ? patched : clean;
      const score = getMetric('kl').score(row, pair, new CleanRow(clean, V));
      expect(Number.isFinite(score)).toBe(true);
      expect(Math.abs(score + klByDefinition(clean, row))).toBeLessThan(1e-12 * Math.max(1, Math.abs(clean[0]!)));
    });
  }
});
