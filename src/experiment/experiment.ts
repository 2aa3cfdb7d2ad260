// One experiment over a dataset: its rows (a pair, and for Gaussian noise one noise sample of it),
// batched by token length into groups, the clean and corrupted runs of each group (sender caches
// kept), the unpatched baselines, and the one primitive every method uses: the scores of K edge-mask
// configurations in a patched run, aggregated per pair over noise samples. Node patching, path
// patching, ACDC and circuit evaluation all work through it.
import { UserError } from '../core/errors.js';
import { memoized } from '../core/memo.js';
import { type Corruption, type Direction, type MetricName, noisingOnly, samplesPerPair } from '../core/vocabulary.js';
import type { PatchableModel, RunResult } from '../runtime/patchable-model.js';
import { EdgeMasks } from '../runtime/masks.js';
import type { SenderCache } from '../runtime/cache.js';
import type { RunInput } from '../runtime/inputs.js';
import { ablationSource, meanSenderOutputs, type SenderMeans } from './ablation.js';
import { corruptedInput, embeddingSigma, resamplePartners } from './corruption.js';
import { CleanRow, getMetric, type Metric, rowBlock, targetOffsets, targetPositions } from './metrics.js';
import type { Dataset, PromptPair } from '../tasks/types.js';

export type { Direction } from '../core/vocabulary.js';

/** One row of a batch: a pair, and for Gaussian noising one noise sample of it. */
export interface ExperimentRow {
  readonly pair: PromptPair;
  readonly sample: number;
}

/**
 * Rows of one token length that the runtime takes in one pass. Every noise sample of a pair is in
 * the same group, so a group is also a unit of work whose effects can be aggregated per pair.
 */
export interface RowGroup {
  /** Stable name (`len12:pairs0-15`): the unit key under which its results are stored. */
  readonly key: string;
  readonly seqLen: number;
  readonly rows: readonly ExperimentRow[];
  /** Index of this group's first row in Experiment.rows. */
  readonly offset: number;
  readonly cleanInput: RunInput;
  readonly corruptedInput: RunInput;
  /** Metric target positions of each row. */
  readonly positions: readonly (readonly number[])[];
  /** Where each row's [targets x V] block starts in a run's logits (metrics.ts targetOffsets). */
  readonly offsets: readonly number[];
}

/** The two unpatched runs of a group. */
export interface GroupRuns {
  readonly clean: RunResult;
  readonly corrupted: RunResult;
  readonly cleanRows: readonly CleanRow[];
}

/** Dataset-level scores of the unpatched runs: the normaliser of normalised metrics. */
export interface Baselines {
  /** Per metric: mean clean score, mean corrupted score, and normaliser (clean - corrupted, or 1). */
  readonly metrics: Readonly<Record<string, { clean: number; corrupted: number; normaliser: number }>>;
  /** Sigma of the Gaussian noise (before the multiplier), when the corruption is GN. */
  readonly sigma?: number;
}

export interface ExperimentOptions {
  /** How the corrupted run is made (default: the dataset's STR prompts; a GN dataset needs its noise settings here). */
  readonly corruption?: Corruption;
  /** Mean ablation's reference prompts (token ids; default: the dataset's corrupted prompts). */
  readonly meanReference?: readonly (readonly number[])[];
  /** Rows per group (default 64): pairs x noise samples, at least one pair; lengths never mix. */
  readonly batchSize?: number;
}

export interface ScoreOptions {
  readonly direction: Direction;
  readonly metric: Metric;
  /**
   * Denoising only: the caller promises that every configuration patches every edge into receivers
   * of layers < prefixLayer. Those layers then equal the clean run (except the `input` sender, which
   * is the corrupted run's), so the pass starts at prefixLayer from a cache built that way (exact;
   * mask entries into those layers are ignored). Noising needs no hint: the runtime starts at the
   * first layer a mask reaches.
   */
  readonly prefixLayer?: number;
  /** Bound on configurations x rows per pass (the runtime's maxRows). */
  readonly maxRows?: number;
}

export const resolveMetric = (m: Metric | MetricName): Metric => (typeof m === 'string' ? getMetric(m) : m);

/** The corruption of a dataset built for STR; a GN dataset needs its noise settings given. */
function strCorruptionOf(dataset: Dataset): Corruption {
  if (dataset.corruption.kind === 'gn') throw new Error('a dataset built for Gaussian noise needs the noise settings (ExperimentOptions.corruption)');
  return dataset.corruption;
}

/** For each metric, the first pair it cannot score, as a message (empty: every metric fits). */
export function checkMetrics(dataset: Dataset, metrics: readonly Metric[]): string[] {
  const problems: string[] = [];
  for (const m of metrics) {
    for (const p of dataset.pairs) {
      const why = m.check(p);
      if (why) {
        problems.push(`metric ${m.name}: pair ${p.index}: ${why}`);
        break;
      }
    }
  }
  return problems;
}

export class Experiment {
  /** Every row, group after group. */
  readonly rows: readonly ExperimentRow[];
  /** Passes of runPatched made so far, for benchmarks. */
  passes = 0;
  /** Runs per group, as promises so concurrent callers share one computation. */
  private readonly runs = new Map<RowGroup, Promise<GroupRuns>>();
  private readonly hybrids = new Map<RowGroup, SenderCache>();
  /** Mean ablation: every sender's mean output per position over the reference prompts, computed once. */
  private means: Promise<SenderMeans> | undefined;

  private constructor(
    readonly model: PatchableModel,
    readonly dataset: Dataset,
    readonly corruption: Corruption,
    readonly groups: readonly RowGroup[],
    /** Sigma of the Gaussian noise (before the multiplier); undefined for STR. */
    readonly sigma: number | undefined,
    /** Mean ablation's reference prompts. */
    private readonly meanReference: readonly (readonly number[])[],
  ) {
    this.rows = groups.flatMap((g) => g.rows);
  }

  /** Rows and groups of a dataset; nothing runs yet (see prepare and runsOf). */
  static plan(model: PatchableModel, dataset: Dataset, opts: ExperimentOptions = {}): Experiment {
    const corruption = opts.corruption ?? strCorruptionOf(dataset);
    if (dataset.pairs.length === 0) throw new Error('an experiment needs at least one prompt pair');
    for (const p of dataset.pairs) {
      if (p.clean.length !== p.corrupted.length) throw new Error(`pair ${p.index}: clean and corrupted prompts differ in length (${p.clean.length} vs ${p.corrupted.length})`);
    }
    const sigma = corruption.kind === 'gn' ? embeddingSigma(model.config, model.weights, corruption.noise.sigmaFrom, dataset) : undefined;
    // Resampling: each pair's partner of the same length, fixed by the seed (a lone length fails here).
    const partners = corruption.kind === 'resample' ? resamplePartners(dataset.pairs, corruption.seed) : undefined;
    const samples = samplesPerPair(corruption);
    const pairsPerGroup = Math.max(1, Math.floor((opts.batchSize ?? 64) / samples));
    const byLength = new Map<number, PromptPair[]>();
    for (const pair of dataset.pairs) {
      const list = byLength.get(pair.clean.length) ?? [];
      list.push(pair);
      byLength.set(pair.clean.length, list);
    }
    const groups: RowGroup[] = [];
    let offset = 0;
    for (const seqLen of [...byLength.keys()].sort((a, b) => a - b)) {
      const all = byLength.get(seqLen)!;
      for (let i = 0; i < all.length; i += pairsPerGroup) {
        const pairs = all.slice(i, i + pairsPerGroup);
        const rows = pairs.flatMap((pair) => Array.from({ length: samples }, (_, sample) => ({ pair, sample })));
        // The corrupted input (noisy embeddings for GN) is made on first use: a planned experiment
        // whose units are all stored already costs nothing.
        let corrupted: RunInput | undefined;
        groups.push({
          key: `len${seqLen}:pairs${pairs[0]!.index}-${pairs[pairs.length - 1]!.index}`,
          seqLen,
          rows,
          offset,
          cleanInput: { tokens: rows.map((r) => r.pair.clean) },
          get corruptedInput() {
            return (corrupted ??= corruptedInput(model.config, model.weights, corruption, rows, sigma ?? 0, partners));
          },
          positions: targetPositions(rows),
          offsets: targetOffsets(rows),
        });
        offset += rows.length;
      }
    }
    const reference = opts.meanReference ?? dataset.pairs.map((p) => p.corrupted);
    if (corruption.kind === 'mean') {
      const longest = Math.max(...reference.map((p) => p.length));
      const needed = Math.max(...dataset.pairs.map((p) => p.clean.length));
      if (longest < needed) throw new UserError(`mean ablation: the longest reference prompt has ${longest} tokens, the dataset's prompts up to ${needed}: every position needs a mean`);
    }
    return new Experiment(model, dataset, corruption, groups, sigma, reference);
  }

  /** plan() and the runs of every group, kept (methods that score the whole dataset many times). */
  static async prepare(model: PatchableModel, dataset: Dataset, opts: ExperimentOptions = {}): Promise<Experiment> {
    const e = Experiment.plan(model, dataset, opts);
    for (const g of e.groups) await e.runsOf(g);
    return e;
  }

  get nRows(): number {
    return this.rows.length;
  }

  /** The group's clean and corrupted runs, computed on first use and kept until release(g). */
  runsOf(g: RowGroup): Promise<GroupRuns> {
    return memoized(this.runs, g, () => this.computeRuns(g));
  }

  private async computeRuns(g: RowGroup): Promise<GroupRuns> {
    const clean = await this.model.run(g.cleanInput, g.positions);
    const corrupted = noisingOnly(this.corruption) ? await this.ablatedRun(g, clean) : await this.model.run(g.corruptedInput, g.positions);
    const V = this.model.config.vocabSize;
    const cleanRows = g.rows.map((_, b) => new CleanRow(rowBlock(clean.logits, g.offsets, b, V).slice(), V));
    return { clean, corrupted, cleanRows };
  }

  /**
   * Zero or mean ablation's "corrupted run" of a group: its cache is the ablation source (0, or each
   * sender's reference mean per position), its logits those of the clean prompt with every edge
   * patched from that source (the fully ablated model), the reference point of normalised metrics.
   */
  private async ablatedRun(g: RowGroup, clean: RunResult): Promise<RunResult> {
    const { graph } = this.model;
    const means = this.corruption.kind === 'mean' ? await this.meanSource() : undefined;
    const source = await ablationSource(this.model, clean.cache, means);
    const all = await this.model.runPatched(g.cleanInput, { source, base: clean.cache, masks: EdgeMasks.allEdges(graph, 1), positions: g.positions });
    return { logits: all.logits, cache: source };
  }

  /** Mean ablation's per-position means over its reference prompts (default: the dataset's corrupted prompts). */
  private meanSource(): Promise<SenderMeans> {
    if (!this.means) {
      this.means = meanSenderOutputs(this.model, this.meanReference);
      this.means.catch(() => (this.means = undefined));
    }
    return this.means;
  }

  /** Drops a group's runs (a unit done with them frees their caches), or every group's. */
  release(g?: RowGroup): void {
    if (g === undefined) {
      this.runs.clear();
      this.hybrids.clear();
      return;
    }
    this.runs.delete(g);
    this.hybrids.delete(g);
  }

  /** Throws when a metric cannot score this dataset (e.g. logit difference without wrong answers). */
  checkMetric(metric: Metric): void {
    const problems = checkMetrics(this.dataset, [metric]);
    if (problems.length > 0) throw new Error(problems.join('; '));
  }

  /**
   * Mean clean and corrupted scores over the dataset and each metric's normaliser, from plain
   * forwards (no caches kept), so every unit of a resumed run divides by the same numbers.
   */
  async baselines(metrics: readonly Metric[]): Promise<Baselines> {
    const V = this.model.config.vocabSize;
    const sums = metrics.map(() => ({ clean: 0, corrupted: 0 }));
    for (const g of this.groups) {
      const clean = await this.model.plainForward(g.cleanInput, g.positions);
      // Zero and mean ablation have no corrupted prompt: the fully ablated run (not kept).
      const corrupted = noisingOnly(this.corruption)
        ? (await this.ablatedRun(g, await this.model.run(g.cleanInput, g.positions))).logits
        : await this.model.plainForward(g.corruptedInput, g.positions);
      g.rows.forEach((r, b) => {
        const cl = new CleanRow(rowBlock(clean, g.offsets, b, V), V);
        const co = rowBlock(corrupted, g.offsets, b, V);
        metrics.forEach((m, i) => {
          sums[i]!.clean += m.score(cl.logits, r.pair, cl);
          sums[i]!.corrupted += m.score(co, r.pair, cl);
        });
      });
    }
    const out: Record<string, { clean: number; corrupted: number; normaliser: number }> = {};
    metrics.forEach((m, i) => {
      const clean = sums[i]!.clean / this.nRows;
      const corrupted = sums[i]!.corrupted / this.nRows;
      out[m.name] = { clean, corrupted, normaliser: m.normalised ? clean - corrupted : 1 };
    });
    return { metrics: out, sigma: this.sigma };
  }

  /** Per-row scores of the unpatched clean and corrupted runs, in row order (runs every group). */
  async baselineRows(metric: Metric): Promise<{ clean: Float64Array; corrupted: Float64Array }> {
    const V = this.model.config.vocabSize;
    const clean = new Float64Array(this.nRows);
    const corrupted = new Float64Array(this.nRows);
    for (const g of this.groups) {
      const runs = await this.runsOf(g);
      g.rows.forEach((r, b) => {
        const cl = runs.cleanRows[b]!;
        clean[g.offset + b] = metric.score(cl.logits, r.pair, cl);
        corrupted[g.offset + b] = metric.score(rowBlock(runs.corrupted.logits, g.offsets, b, V), r.pair, cl);
      });
    }
    return { clean, corrupted };
  }

  /**
   * Scores [K x nRows] (config-major, rows in Experiment.rows order) of K mask configurations:
   * each run on the base prompt of the direction (noising: clean; denoising: corrupted) with patches
   * from the other run. `masks` may depend on the group (per-position masks need its length).
   */
  async scoreRows(masks: EdgeMasks | ((g: RowGroup) => EdgeMasks), opts: ScoreOptions): Promise<Float64Array> {
    let out: Float64Array | undefined;
    let K = 0;
    for (const g of this.groups) {
      const m = typeof masks === 'function' ? masks(g) : masks;
      if (out === undefined) {
        K = m.k;
        out = new Float64Array(K * this.nRows);
      } else if (m.k !== K) {
        throw new Error(`mask configurations differ between batches (${K} vs ${m.k})`);
      }
      const part = await this.scoreGroup(g, m, opts);
      const B = g.rows.length;
      for (let k = 0; k < K; k++) out.set(part.subarray(k * B, (k + 1) * B), k * this.nRows + g.offset);
    }
    return out!;
  }

  /** Scores [K x B] of K configurations on one group's rows. */
  async scoreGroup(g: RowGroup, masks: EdgeMasks, opts: ScoreOptions): Promise<Float64Array> {
    const [out] = await this.scoreGroupMetrics(g, masks, [opts.metric], opts);
    return out!;
  }

  /** Scores [K x B] per metric of K configurations on one group's rows, from one patched pass. */
  async scoreGroupMetrics(g: RowGroup, masks: EdgeMasks, metrics: readonly Metric[], opts: Omit<ScoreOptions, 'metric'>): Promise<Float64Array[]> {
    const { direction } = opts;
    if (direction === 'denoising' && noisingOnly(this.corruption)) {
      throw new Error(`${this.corruption.kind} ablation is defined for noising only: its source is no run of any prompt`);
    }
    const { nLayers } = this.model.config;
    const V = this.model.config.vocabSize;
    const runs = await this.runsOf(g);
    const noising = direction === 'noising';
    const input = noising ? g.cleanInput : g.corruptedInput;
    let base = noising ? runs.clean.cache : runs.corrupted.cache;
    const source = noising ? runs.corrupted.cache : runs.clean.cache;
    let fromLayer: number | undefined;
    let m = masks;
    const L = Math.min(opts.prefixLayer ?? 0, nLayers);
    if (!noising && L > 0) {
      base = this.hybrid(g, runs);
      fromLayer = L;
      const rEnd = L >= nLayers ? this.model.graph.logitsReceiver : this.model.graph.layerReceiverStart(L);
      if (m.touches(0, rEnd)) m = stripBelow(m, rEnd);
    }
    this.passes++;
    const res = await this.model.runPatched(input, { source, base, masks: m, positions: g.positions, fromLayer, maxRows: opts.maxRows });
    const B = g.rows.length;
    const K = m.k;
    return metrics.map((metric) => {
      const out = new Float64Array(K * B);
      for (let k = 0; k < K; k++) {
        g.rows.forEach((r, b) => {
          out[k * B + b] = metric.score(rowBlock(res.logits, g.offsets, b, V, k), r.pair, runs.cleanRows[b]!);
        });
      }
      return out;
    });
  }

  /** Scores [B] of the group's base run (noising: clean; denoising: corrupted). */
  async baseScores(g: RowGroup, direction: Direction, metric: Metric): Promise<Float64Array> {
    const runs = await this.runsOf(g);
    const V = this.model.config.vocabSize;
    const logits = direction === 'noising' ? runs.clean.logits : runs.corrupted.logits;
    return Float64Array.from(g.rows, (r, b) => metric.score(rowBlock(logits, g.offsets, b, V), r.pair, runs.cleanRows[b]!));
  }

  /** Mean score over all rows of each of K configurations. */
  async meanScores(masks: EdgeMasks | ((g: RowGroup) => EdgeMasks), opts: ScoreOptions): Promise<Float64Array> {
    const rows = await this.scoreRows(masks, opts);
    return meanPerConfig(rows, this.nRows);
  }

  /**
   * The cache of "corrupted input, every edge into layers < l patched from the clean run": those
   * layers' senders equal the clean run's, the `input` sender stays corrupted, and the residual
   * stream is their plain sum (the runtime adds patch deltas on top). Valid for every l.
   */
  private hybrid(g: RowGroup, runs: GroupRuns): SenderCache {
    let h = this.hybrids.get(g);
    if (h) return h;
    const clean = runs.clean.cache;
    const corrupt = runs.corrupted.cache;
    const X = clean.batch * clean.seqLen * clean.dModel;
    const residStart = clean.residStart.map((r) => {
      const out = new Float32Array(X);
      for (let i = 0; i < X; i++) out[i] = r[i]! - clean.input[i]! + corrupt.input[i]!;
      return out;
    });
    h = { ...clean, input: corrupt.input, residStart };
    this.hybrids.set(g, h);
    return h;
  }
}

/**
 * Per-pair means over noise samples of K configurations' per-row values [K x B] of one group:
 * for each configuration, [pair index, mean] in the group's pair order.
 */
export function perPairMeans(g: RowGroup, values: Float64Array): [number, number][][] {
  const B = g.rows.length;
  const K = values.length / B;
  const out: [number, number][][] = [];
  for (let k = 0; k < K; k++) {
    const acc = new Map<number, { sum: number; n: number }>();
    g.rows.forEach((r, b) => {
      const a = acc.get(r.pair.index) ?? { sum: 0, n: 0 };
      a.sum += values[k * B + b]!;
      a.n += 1;
      acc.set(r.pair.index, a);
    });
    out.push([...acc].map(([pair, a]) => [pair, a.sum / a.n]));
  }
  return out;
}

export function meanPerConfig(rows: Float64Array, nRows: number): Float64Array {
  const K = rows.length / nRows;
  const out = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let i = 0; i < nRows; i++) s += rows[k * nRows + i]!;
    out[k] = s / nRows;
  }
  return out;
}

/** A copy of `m` with every entry into receivers < rEnd zeroed. */
function stripBelow(m: EdgeMasks, rEnd: number): EdgeMasks {
  const { nSenders: S, nReceivers: R } = m.graph;
  const data = m.data.slice();
  const rows = data.length / (S * R);
  for (let row = 0; row < rows; row++) for (let s = 0; s < S; s++) data.fill(0, (row * S + s) * R, (row * S + s) * R + rEnd);
  return EdgeMasks.fromData(m.graph, m.k, data, m.seqLen);
}
