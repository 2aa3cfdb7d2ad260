// Metrics of a next-token distribution, as Zhang & Nanda (2024) define patching effects. Every
// metric is a score s(logits) at the prompt's metric position; the effect of a patch is
// (s_patched - s_base) / n, where n = 1, or for normalised metrics the dataset mean of
// s_clean - s_corrupted. So KL's score -KL(P_clean || P) gives KL(P_cl || P_*) - KL(P_cl || P_pt),
// and normalised logit difference gives (LD_pt - LD_*) / (LD_cl - LD_*). Registered in a table.
import type { MetricName } from '../core/vocabulary.js';
import type { PromptPair } from '../tasks/types.js';

/** The clean run's distribution for one prompt, computed once and shared by every patched row. */
export class CleanRow {
  private lp?: Float64Array;
  constructor(readonly logits: Float32Array) {}
  get logProbs(): Float64Array {
    return (this.lp ??= logSoftmax(this.logits));
  }
}

export interface Metric {
  readonly name: MetricName;
  readonly description: string;
  /** Divide effects by the dataset's mean clean - corrupted score. */
  readonly normalised: boolean;
  /** Checks that a pair has what the metric reads (wrong answer, token sets). */
  check(pair: PromptPair): string | undefined;
  /** Score of one logits row [V]; `clean` is the clean run's row for the same prompt. */
  score(row: Float32Array, pair: PromptPair, clean: CleanRow): number;
}

/** log-sum-exp of a row, in float64. */
export function logSumExp(row: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum);
}

/** log-softmax of a row, in float64. */
export function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i]! - lse;
  return out;
}

const probability: Metric = {
  name: 'prob',
  description: 'probability of the answer token: effect P_pt(r) - P_*(r)',
  normalised: false,
  check: () => undefined,
  score: (row, pair) => Math.exp(row[pair.answer]! - logSumExp(row)),
};

const logitDiff: Metric = {
  name: 'logit-diff',
  description: 'logit difference logit(r) - logit(r\'), normalised: (LD_pt - LD_*) / (LD_cl - LD_*)',
  normalised: true,
  check: (p) => (p.wrong === undefined ? 'needs a wrong answer r\' (field "wrong")' : undefined),
  score: (row, pair) => row[pair.answer]! - row[pair.wrong!]!,
};

const kl: Metric = {
  name: 'kl',
  description: 'KL divergence to the clean distribution: effect KL(P_cl || P_*) - KL(P_cl || P_pt)',
  normalised: false,
  check: () => undefined,
  score: (row, _pair, clean) => {
    // KL(P_cl || P) = sum_i p_cl,i (log p_cl,i - row_i) + lse(row): one pass over the row.
    const lc = clean.logProbs;
    let klv = logSumExp(row);
    for (let i = 0; i < lc.length; i++) {
      const pc = Math.exp(lc[i]!);
      if (pc > 0) klv += pc * (lc[i]! - row[i]!);
    }
    return -klv;
  },
};

const probDiff: Metric = {
  name: 'prob-diff',
  description: 'greater-than probability difference: sum of p(y) over y > YY minus over y <= YY',
  normalised: false,
  check: (p) => (p.tokenSets?.greater && p.tokenSets.notGreater ? undefined : 'needs token sets "greater" and "notGreater" (the greater-than task makes them)'),
  score: (row, pair) => {
    const lse = logSumExp(row);
    const sum = (ids: readonly number[]) => ids.reduce((a, id) => a + Math.exp(row[id]! - lse), 0);
    return sum(pair.tokenSets!.greater!) - sum(pair.tokenSets!.notGreater!);
  },
};

export const METRICS: Readonly<Record<MetricName, Metric>> = {
  prob: probability,
  'logit-diff': logitDiff,
  kl,
  'prob-diff': probDiff,
};

/** The metric of a parsed name (names are checked where they are read: the pipeline schema, the CLI). */
export function getMetric(name: MetricName): Metric {
  return METRICS[name];
}
