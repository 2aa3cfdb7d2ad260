// Shared by the discovery tests: a small random GPT-2 with a hand-made dataset, and the float64
// reference of a patched run's mean metric, computed without any of the fast path's code.
import type { ComponentGraph } from '../../src/graph/component-graph.js';
import type { LoadedModel } from '../../src/model/types.js';
import type { Dataset, PromptPair } from '../../src/tasks/types.js';
import { referenceForward, type ReferenceResult } from '../reference/patched-forward.js';
import { Random } from '../../src/core/random.js';
import { randomModel, randomTokens } from '../reference/random-model.js';

export const VOCAB = 40;
export const T = 6;

export function smallModel(seed = 3): LoadedModel {
  const { config, weights } = randomModel('gpt2', { dModel: 16, nLayers: 2, nHeads: 2, vocabSize: VOCAB, maxPositions: 16 }, seed);
  return { config, weights, source: { path: 'random', format: 'hf-safetensors' } };
}

/** `n` pairs of random clean and corrupted prompts of length T (metric at the last position). */
export function smallDataset(n: number, seed = 1): Dataset {
  const random = new Random(seed);
  const pairs: PromptPair[] = Array.from({ length: n }, (_, index) => {
    const clean = randomTokens(T, VOCAB, seed * 100 + 2 * index);
    const corrupted = randomTokens(T, VOCAB, seed * 100 + 2 * index + 1);
    const answer = random.int(VOCAB);
    const wrong = (answer + 1 + random.int(VOCAB - 1)) % VOCAB;
    return { index, clean, corrupted, targets: [{ position: T - 1, answer, wrong }], keyPositions: [1, 3], roles: { END: T - 1, MID: 1 + (index % 3) } };
  });
  return { task: 'test', settings: {}, corruption: { kind: 'str', variant: 'random' }, pairs };
}

function logSoftmax(row: ArrayLike<number>): number[] {
  const xs = Array.from(row);
  const max = Math.max(...xs);
  const lse = max + Math.log(xs.reduce((a, x) => a + Math.exp(x - max), 0));
  return xs.map((x) => x - lse);
}

/** Hand-written scores (higher = more clean-like), KL's being -KL(P_clean || P). */
export function refScore(metric: string, row: ArrayLike<number>, cleanRow: ArrayLike<number>, pair: PromptPair): number {
  if (pair.targets.length !== 1) throw new Error('refScore reads one metric target');
  const target = pair.targets[0]!;
  const lp = logSoftmax(row);
  if (metric === 'kl') {
    const lc = logSoftmax(cleanRow);
    return -lc.reduce((a, l, i) => a + Math.exp(l) * (l - lp[i]!), 0);
  }
  if (metric === 'logit-diff') return row[target.answer]! - row[target.wrong!]!;
  if (metric === 'prob') return Math.exp(lp[target.answer]!);
  throw new Error(`no reference for ${metric}`);
}

/** Reference runs of a dataset and the mean score of any patched configuration, all in float64. */
export class Reference {
  readonly clean: ReferenceResult[];
  readonly corrupted: ReferenceResult[];

  constructor(
    readonly model: LoadedModel,
    readonly graph: ComponentGraph,
    readonly dataset: Dataset,
  ) {
    this.clean = dataset.pairs.map((p) => referenceForward(model, { tokens: p.clean }));
    this.corrupted = dataset.pairs.map((p) => referenceForward(model, { tokens: p.corrupted }));
  }

  row(r: ReferenceResult, pair: PromptPair): Float64Array {
    const V = this.model.config.vocabSize;
    const position = pair.targets[0]!.position;
    return r.logits.subarray(position * V, (position + 1) * V);
  }

  /** Per-pair scores of the run on the direction's base prompt with `patched(s, r, t)` from the other run. */
  scores(metric: string, direction: 'noising' | 'denoising', patched: (s: number, r: number, t: number) => number): number[] {
    return this.dataset.pairs.map((p, b) => {
      const noising = direction === 'noising';
      const tokens = noising ? p.clean : p.corrupted;
      const source = (noising ? this.corrupted : this.clean)[b]!.senders;
      const out = referenceForward(this.model, { tokens }, { mask: patched, source });
      return refScore(metric, this.row(out, p), this.row(this.clean[b]!, p), p);
    });
  }

  mean(metric: string, direction: 'noising' | 'denoising', patched: (s: number, r: number, t: number) => number): number {
    const s = this.scores(metric, direction, patched);
    return s.reduce((a, b) => a + b, 0) / s.length;
  }
}
