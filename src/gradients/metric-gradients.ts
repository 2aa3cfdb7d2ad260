// d score / d logits for every registry metric (src/experiment/metrics.ts), one logits row at a
// time, in float64: the seed of the backward pass. Scores are the raw ones (not normalised): an
// attribution score is then in the metric's own units, as ACDC's threshold is.
import type { MetricName } from '../core/vocabulary.js';
import { type CleanRow, logSoftmax } from '../experiment/metrics.js';
import type { PromptPair } from '../tasks/types.js';

type Gradient = (row: Float32Array, pair: PromptPair, clean: CleanRow) => Float64Array;

const probs = (row: Float32Array): Float64Array => logSoftmax(row).map(Math.exp);

/**
 * Gradient of sum_j c_j p_j (token weights c; a token listed twice counts twice):
 * d/dl_i = p_i (c_i - sum_j c_j p_j).
 */
function weightedProbGradient(row: Float32Array, weights: ReadonlyMap<number, number>): Float64Array {
  const p = probs(row);
  let mean = 0;
  for (const [id, c] of weights) mean += c * p[id]!;
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = p[i]! * ((weights.get(i) ?? 0) - mean);
  return out;
}

function countTokens(plus: readonly number[], minus: readonly number[] = []): Map<number, number> {
  const m = new Map<number, number>();
  for (const id of plus) m.set(id, (m.get(id) ?? 0) + 1);
  for (const id of minus) m.set(id, (m.get(id) ?? 0) - 1);
  return m;
}

const GRADIENTS: Readonly<Record<MetricName, Gradient>> = {
  prob: (row, pair) => weightedProbGradient(row, countTokens([pair.answer])),
  'logit-diff': (row, pair) => {
    const out = new Float64Array(row.length);
    out[pair.answer]! += 1;
    out[pair.wrong!]! -= 1;
    return out;
  },
  // score = -KL(P_clean || P) = sum_i pc_i l_i - lse(l) + const: d/dl_i = pc_i - p_i.
  kl: (row, _pair, clean) => {
    const p = probs(row);
    const lc = clean.logProbs;
    return p.map((pi, i) => Math.exp(lc[i]!) - pi);
  },
  'prob-diff': (row, pair) => weightedProbGradient(row, countTokens(pair.tokenSets!.greater!, pair.tokenSets!.notGreater!)),
};

/** d score / d logits [V] of one row for the named metric. */
export function scoreGradient(metric: MetricName, row: Float32Array, pair: PromptPair, clean: CleanRow): Float64Array {
  return GRADIENTS[metric](row, pair, clean);
}
