// d score / d logits for every registry metric (src/experiment/metrics.ts), one prompt's block of
// logits at its metric targets ([targets x V]) at a time, in float64: the seed of the backward pass.
// A score is the mean over targets of a per-target score, so each target's row gets its own
// gradient divided by the number of targets. Scores are the raw ones (not normalised): an
// attribution score is then in the metric's own units, as ACDC's threshold is.
import type { MetricName } from '../core/vocabulary.js';
import { type CleanRow, logSoftmax, targetRow } from '../experiment/metrics.js';
import type { PromptPair } from '../tasks/types.js';

/** Gradient of one target's score with respect to its logits row. */
type TargetGradient = (row: Float32Array, pair: PromptPair, t: number, clean: CleanRow) => Float64Array;

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

const GRADIENTS: Readonly<Record<MetricName, TargetGradient>> = {
  prob: (row, pair, t) => weightedProbGradient(row, countTokens([pair.targets[t]!.answer])),
  'logit-diff': (row, pair, t) => {
    const out = new Float64Array(row.length);
    out[pair.targets[t]!.answer]! += 1;
    out[pair.targets[t]!.wrong!]! -= 1;
    return out;
  },
  // score = -KL(P_clean || P) = sum_i pc_i l_i - lse(l) + const: d/dl_i = pc_i - p_i.
  kl: (row, _pair, t, clean) => {
    const p = probs(row);
    const lc = clean.logProbs(t);
    return p.map((pi, i) => Math.exp(lc[i]!) - pi);
  },
  'prob-diff': (row, pair) => weightedProbGradient(row, countTokens(pair.tokenSets!.greater!, pair.tokenSets!.notGreater!)),
};

/** d score / d logits [targets x V] of one prompt's block for the named metric. */
export function scoreGradient(metric: MetricName, block: Float32Array, pair: PromptPair, clean: CleanRow): Float64Array {
  const V = clean.vocabSize;
  const n = pair.targets.length;
  const out = new Float64Array(n * V);
  for (let t = 0; t < n; t++) {
    const g = GRADIENTS[metric](targetRow(block, t, V), pair, t, clean);
    for (let i = 0; i < V; i++) out[t * V + i] = g[i]! / n;
  }
  return out;
}

/**
 * The same gradients in the form the attribution graph evaluates at any point (attribution-graph.ts):
 * d score / d l = add + p (weights - sum(weights p)) - self p with p = softmax(l), per target row.
 * Filled into [targets x V] blocks of `add` and `weights` and [targets] of `self`, at row `at`.
 */
export function writeGradientTerms(
  metric: MetricName,
  pair: PromptPair,
  clean: CleanRow,
  out: { readonly add: Float32Array; readonly weights: Float32Array; readonly self: Float32Array },
  at: number,
): void {
  const V = clean.vocabSize;
  const n = pair.targets.length;
  for (let t = 0; t < n; t++) {
    const row = (at + t) * V;
    const target = pair.targets[t]!;
    const weigh = (m: ReadonlyMap<number, number>) => {
      for (const [id, c] of m) out.weights[row + id]! += c / n;
    };
    switch (metric) {
      case 'logit-diff':
        out.add[row + target.answer]! += 1 / n;
        out.add[row + target.wrong!]! -= 1 / n;
        break;
      case 'prob':
        weigh(countTokens([target.answer]));
        break;
      case 'prob-diff':
        weigh(countTokens(pair.tokenSets!.greater!, pair.tokenSets!.notGreater!));
        break;
      case 'kl': {
        const lc = clean.logProbs(t);
        for (let i = 0; i < V; i++) out.add[row + i] = Math.exp(lc[i]!) / n;
        out.self[at + t] = 1 / n;
        break;
      }
    }
  }
}
