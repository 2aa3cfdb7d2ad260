// Metrics of a next-token distribution, as Zhang & Nanda (2024) define patching effects. Every
// metric is a score s(logits) at the prompt's metric targets (a pair's score is the mean of the
// per-target scores, so a multi-position pair weighs as much as any other); the effect of a patch is
// (s_patched - s_base) / n, where n = 1, or for normalised metrics the dataset mean of
// s_clean - s_corrupted. So KL's score -KL(P_clean || P) gives KL(P_cl || P_*) - KL(P_cl || P_pt),
// and normalised logit difference gives (LD_pt - LD_*) / (LD_cl - LD_*). Registered in a table.
import type { MetricName } from '../core/vocabulary.js';
import type { PromptPair } from '../tasks/types.js';

/**
 * The clean run's logits of one prompt at its targets ([targets x V], target order), with each
 * target's log-probabilities computed once and shared by every patched row.
 */
export class CleanRow {
  private readonly lp: Float64Array[] = [];
  private readonly kl: { readonly probs: Float64Array; readonly negEntropy: number }[] = [];
  constructor(
    readonly logits: Float32Array,
    readonly vocabSize: number,
  ) {}
  /** log-softmax of target `t`'s row. */
  logProbs(t: number): Float64Array {
    return (this.lp[t] ??= logSoftmax(targetRow(this.logits, t, this.vocabSize)));
  }

  /**
   * Target `t`'s probabilities and sum_i p_i log p_i (terms with p_i = 0 left out): what KL to
   * this row needs of it, computed once rather than for every patched row.
   */
  klTerms(t: number): { readonly probs: Float64Array; readonly negEntropy: number } {
    let terms = this.kl[t];
    if (!terms) {
      const lp = this.logProbs(t);
      const probs = new Float64Array(lp.length);
      let negEntropy = 0;
      for (let i = 0; i < lp.length; i++) {
        probs[i] = Math.exp(lp[i]!);
        if (probs[i]! > 0) negEntropy += probs[i]! * lp[i]!;
      }
      terms = this.kl[t] = { probs, negEntropy };
    }
    return terms;
  }
}

/** Row `t` of a [targets x V] block. */
export function targetRow(block: Float32Array, t: number, V: number): Float32Array {
  return block.subarray(t * V, (t + 1) * V);
}

/** The logit positions of rows for the runtime: each row's target positions, in target order. */
export function targetPositions(rows: readonly { readonly pair: PromptPair }[]): number[][] {
  return rows.map((r) => r.pair.targets.map((t) => t.position));
}

/** Where each row's [targets x V] block starts in a run's logits (in rows), and the total (last entry). */
export function targetOffsets(rows: readonly { readonly pair: PromptPair }[]): number[] {
  const out = [0];
  for (const r of rows) out.push(out[out.length - 1]! + r.pair.targets.length);
  return out;
}

/** Row `b`'s block of config `k` in a run's logits ([K x sum(targets) x V]) with offsets from targetOffsets. */
export function rowBlock(logits: Float32Array, offsets: readonly number[], b: number, V: number, k = 0): Float32Array {
  const perConfig = offsets[offsets.length - 1]!;
  return logits.subarray((k * perConfig + offsets[b]!) * V, (k * perConfig + offsets[b + 1]!) * V);
}

/** The mean over a pair's targets of a per-target score. */
function meanOverTargets(pair: PromptPair, score: (t: number) => number): number {
  let sum = 0;
  for (let t = 0; t < pair.targets.length; t++) sum += score(t);
  return sum / pair.targets.length;
}

export interface Metric {
  readonly name: MetricName;
  readonly description: string;
  /** Divide effects by the dataset's mean clean - corrupted score. */
  readonly normalised: boolean;
  /** Checks that a pair has what the metric reads (wrong answer, token sets). */
  check(pair: PromptPair): string | undefined;
  /**
   * Score of one prompt from its logits at its targets ([targets x V], target order), the mean of
   * the per-target scores; `clean` is the clean run's block for the same prompt.
   */
  score(block: Float32Array, pair: PromptPair, clean: CleanRow): number;
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
  score: (block, pair, clean) =>
    meanOverTargets(pair, (t) => {
      const row = targetRow(block, t, clean.vocabSize);
      return Math.exp(row[pair.targets[t]!.answer]! - logSumExp(row));
    }),
};

const logitDiff: Metric = {
  name: 'logit-diff',
  description: "logit difference logit(r) - logit(r'), normalised: (LD_pt - LD_*) / (LD_cl - LD_*)",
  normalised: true,
  check: (p) => (p.targets.some((t) => t.wrong === undefined) ? 'needs a wrong answer r\' (field "wrong") at every metric target' : undefined),
  score: (block, pair, clean) =>
    meanOverTargets(pair, (t) => {
      const row = targetRow(block, t, clean.vocabSize);
      const target = pair.targets[t]!;
      return row[target.answer]! - row[target.wrong!]!;
    }),
};

const kl: Metric = {
  name: 'kl',
  description: 'KL divergence to the clean distribution: effect KL(P_cl || P_*) - KL(P_cl || P_pt)',
  normalised: false,
  check: () => undefined,
  score: (block, pair, clean) =>
    meanOverTargets(pair, (t) => {
      // KL(P_cl || P) = sum_i p_cl,i log p_cl,i - sum_i p_cl,i row_i + lse(row): the clean terms are
      // computed once per prompt, so a patched row costs one exp per entry (its lse).
      const row = targetRow(block, t, clean.vocabSize);
      const { probs, negEntropy } = clean.klTerms(t);
      let dot = 0;
      for (let i = 0; i < probs.length; i++) dot += probs[i]! * row[i]!;
      return -(negEntropy - dot + logSumExp(row));
    }),
};

const probDiff: Metric = {
  name: 'prob-diff',
  description: 'greater-than probability difference: sum of p(y) over y > YY minus over y <= YY',
  normalised: false,
  check: (p) => (p.tokenSets?.greater && p.tokenSets.notGreater ? undefined : 'needs token sets "greater" and "notGreater" (the greater-than task makes them)'),
  score: (block, pair, clean) =>
    meanOverTargets(pair, (t) => {
      const row = targetRow(block, t, clean.vocabSize);
      const lse = logSumExp(row);
      const sum = (ids: readonly number[]) => ids.reduce((a, id) => a + Math.exp(row[id]! - lse), 0);
      return sum(pair.tokenSets!.greater!) - sum(pair.tokenSets!.notGreater!);
    }),
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
