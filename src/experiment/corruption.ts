// How the corrupted run of a pair is made: symmetric token replacement (the dataset's corrupted
// prompt), Gaussian noise added to the token embeddings at the key positions, or resampling (another
// pair's clean prompt of the same length). Zero and mean ablation have no corrupted prompt: their
// patch source is built directly (ablation.ts).
import { UserError } from '../core/errors.js';
import { Random } from '../core/random.js';
import type { Corruption, SigmaSource } from '../core/vocabulary.js';
import type { ModelConfig, ModelWeights } from '../model/types.js';
import type { RunInput } from '../runtime/inputs.js';
import { tokenEmbeddings } from '../runtime/inputs.js';
import type { Dataset, PromptPair } from '../tasks/types.js';

/** Standard deviation of token-embedding entries over the key tokens of a dataset or over the vocabulary. */
export function embeddingSigma(cfg: ModelConfig, w: ModelWeights, from: SigmaSource, dataset: Dataset): number {
  const d = cfg.dModel;
  const ids = from === 'vocabulary' ? Array.from({ length: cfg.vocabSize }, (_, i) => i) : dataset.pairs.flatMap((p) => p.keyPositions.map((t) => p.clean[t]!));
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  for (const id of ids) {
    for (let i = 0; i < d; i++) {
      const x = w.embed.data[id * d + i]!;
      sum += x;
      sumSq += x * x;
      n++;
    }
  }
  if (n === 0) throw new Error('no key tokens to take sigma from');
  const mean = sum / n;
  return Math.sqrt(Math.max(0, sumSq / n - mean * mean));
}

/** The noise of one (seed, pair, sample): its own stream, so a pair's noise is the same on every resume. */
const noiseStream = (seed: number, pair: number, sample: number): Random => new Random((seed * 0x9e3779b1) ^ (pair * 0x85ebca6b) ^ (sample * 0xc2b2ae35));

/**
 * The corrupted run's input for rows (pair, sample): the corrupted tokens for STR, or the clean
 * token embeddings plus noise at the key positions for GN (same noise for a pair on every resume).
 */
export function corruptedInput(
  cfg: ModelConfig,
  w: ModelWeights,
  corruption: Corruption,
  rows: readonly { pair: PromptPair; sample: number }[],
  sigma: number,
  /** Resampling: each pair's partner (resamplePartners). */
  partners?: ReadonlyMap<number, PromptPair>,
): RunInput {
  if (corruption.kind === 'str') return { tokens: rows.map((r) => r.pair.corrupted) };
  if (corruption.kind === 'resample') {
    if (!partners) throw new Error('resampling needs the partner of every pair (resamplePartners)');
    return { tokens: rows.map((r) => partnerOf(partners, r.pair).clean) };
  }
  if (corruption.kind !== 'gn') throw new Error(`${corruption.kind} ablation has no corrupted prompt: its patch source is built directly (ablation.ts)`);
  const seqLen = rows[0]!.pair.clean.length;
  const emb = tokenEmbeddings(
    cfg,
    w,
    rows.map((r) => r.pair.clean),
  );
  const d = cfg.dModel;
  const std = corruption.noise.multiplier * sigma;
  rows.forEach(({ pair, sample }, b) => {
    const noise = noiseStream(corruption.noise.seed, pair.index, sample);
    for (const t of pair.keyPositions) {
      for (let i = 0; i < d; i++) emb[(b * seqLen + t) * d + i]! += std * noise.normal();
    }
  });
  return { embeddings: emb, batch: rows.length, seqLen };
}

const partnerOf = (partners: ReadonlyMap<number, PromptPair>, pair: PromptPair): PromptPair => {
  const p = partners.get(pair.index);
  if (!p) throw new Error(`pair ${pair.index} has no resampling partner`);
  return p;
};

/**
 * Resampling partners: within each token length the pairs are put in a seeded random cyclic order
 * and each pair takes the next one's clean prompt, so no pair is its own partner (a derangement)
 * and the same seed gives the same partners on every resume. A length with a single pair has no
 * partner: a UserError naming that pair.
 */
export function resamplePartners(pairs: readonly PromptPair[], seed: number): Map<number, PromptPair> {
  const byLength = new Map<number, PromptPair[]>();
  for (const p of pairs) byLength.set(p.clean.length, [...(byLength.get(p.clean.length) ?? []), p]);
  const rng = new Random(seed ^ 0x5bd1e995);
  const out = new Map<number, PromptPair>();
  for (const [length, group] of [...byLength].sort((a, b) => a[0] - b[0])) {
    if (group.length < 2) {
      throw new UserError(`resample: pair ${group[0]!.index} is the only prompt of ${length} tokens; resampling needs another prompt of the same length`);
    }
    const order = rng.sample(group, group.length);
    order.forEach((p, i) => out.set(p.index, order[(i + 1) % order.length]!));
  }
  return out;
}
