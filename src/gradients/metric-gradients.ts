// d score / d logits for every registry metric (src/experiment/metrics.ts), one prompt's block of
// logits at its metric targets ([targets x V]) at a time: the seed of the backward pass.
// A score is the mean over targets of a per-target score, so each target's row gets its own
// gradient divided by the number of targets. Scores are the raw ones (not normalised): an
// attribution score is then in the metric's own units, as ACDC's threshold is.
import type { MetricName } from '../core/vocabulary.js';
import { type CleanRow, logSoftmax, targetRow } from '../experiment/metrics.js';
import type { PromptPair } from '../tasks/types.js';

const probs = (row: Float32Array): Float64Array => logSoftmax(row).map(Math.exp);

function countTokens(plus: readonly number[], minus: readonly number[] = []): Map<number, number> {
  const m = new Map<number, number>();
  for (const id of plus) m.set(id, (m.get(id) ?? 0) + 1);
  for (const id of minus) m.set(id, (m.get(id) ?? 0) - 1);
  return m;
}

/**
 * d score / d logits [targets x V] of one prompt's block for the named metric, in float64: the
 * gradient terms below evaluated at the block's logits (the attribution graph evaluates the same
 * terms in float32 at each point, so this is also their check against the metric itself).
 */
export function scoreGradient(metric: MetricName, block: Float32Array, pair: PromptPair, clean: CleanRow): Float64Array {
  const V = clean.vocabSize;
  const n = pair.targets.length;
  const terms = { add: new Float64Array(n * V), weights: new Float64Array(n * V), self: new Float64Array(n) };
  writeGradientTerms(metric, pair, clean, terms, 0);
  const out = new Float64Array(n * V);
  for (let t = 0; t < n; t++) {
    const p = probs(targetRow(block, t, V));
    let mean = 0;
    for (let i = 0; i < V; i++) mean += terms.weights[t * V + i]! * p[i]!;
    for (let i = 0; i < V; i++) out[t * V + i] = terms.add[t * V + i]! + p[i]! * (terms.weights[t * V + i]! - mean) - terms.self[t]! * p[i]!;
  }
  return out;
}

/**
 * d score / d l = add + p (weights - sum(weights p)) - self p with p = softmax(l), per target row: the
 * form every metric's gradient takes, which the attribution graph evaluates at any point
 * (attribution-graph.ts). Fills [targets x V] blocks of `add` and `weights` and [targets] of `self`
 * at row `at`: logit difference +-1/n on its two tokens; prob and prob-diff the token weights of
 * sum_j c_j p_j (d/dl_i = p_i (c_i - sum_j c_j p_j); a token listed twice counts twice); KL
 * (score -KL(P_clean || P) = sum_i pc_i l_i - lse(l) + const) add = pc / n, self = 1 / n.
 */
export function writeGradientTerms(
  metric: MetricName,
  pair: PromptPair,
  clean: CleanRow,
  out: { readonly add: Float32Array | Float64Array; readonly weights: Float32Array | Float64Array; readonly self: Float32Array | Float64Array },
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
