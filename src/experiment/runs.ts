// The clean and corrupted runs of a dataset, computed once and shared by every discovery algorithm
// (path patching, each ACDC threshold, circuit evaluation), and the one primitive they all use:
// mean metric scores of K edge-mask configurations in a patched run over the whole dataset.
import type { PatchableModel, RunResult } from '../runtime/patchable-model.js';
import { EdgeMasks } from '../runtime/masks.js';
import type { SenderCache } from '../runtime/cache.js';
import type { RunInput } from '../runtime/inputs.js';
import { corruptedInput, embeddingSigma } from './corruption.js';
import { checkMetrics } from '../methods/node-patching.js';
import { type Corruption, type Direction, type MetricName, samplesPerPair } from '../core/vocabulary.js';
import { CleanRow, getMetric, type Metric, rowBlock, targetOffsets, targetPositions } from './metrics.js';
import type { Dataset, PromptPair } from '../tasks/types.js';


/** One row of a batch: a pair, and for Gaussian noising one noise sample of it. */
export interface RunRow {
  readonly pair: PromptPair;
  readonly sample: number;
}

/** Rows of one token length (a batch the runtime takes in one pass), with their two runs. */
export interface RunGroup {
  readonly seqLen: number;
  readonly rows: readonly RunRow[];
  /** Index of this group's first row in PreparedRuns.rows. */
  readonly offset: number;
  readonly cleanInput: RunInput;
  readonly corruptedInput: RunInput;
  /** Metric target positions of each row. */
  readonly positions: readonly (readonly number[])[];
  /** Where each row's [targets x V] block starts in a run's logits (metrics.ts targetOffsets). */
  readonly offsets: readonly number[];
  readonly clean: RunResult;
  readonly corrupted: RunResult;
  readonly cleanRows: readonly CleanRow[];
}

export interface PrepareOptions {
  /** How the corrupted run is made (default: the dataset's STR prompts). */
  readonly corruption?: Corruption;
  /** Rows per batch (default 64); prompts of different lengths always go to different batches. */
  readonly batchSize?: number;
}

export interface EvaluateOptions {
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

/** The corruption of a dataset built for STR; a GN dataset needs its noise settings given. */
function strCorruptionOf(dataset: Dataset): Corruption {
  if (dataset.corruption.kind === 'gn') throw new Error('a dataset built for Gaussian noise needs the noise settings (PrepareOptions.corruption)');
  return dataset.corruption;
}

export const resolveMetric = (m: Metric | MetricName): Metric => (typeof m === 'string' ? getMetric(m) : m);

export class PreparedRuns {
  /** Every row, group after group. */
  readonly rows: readonly RunRow[];
  /** Passes of runPatched made so far (per group), for benchmarks. */
  passes = 0;
  private readonly hybrids = new Map<RunGroup, SenderCache>();

  private constructor(
    readonly model: PatchableModel,
    readonly dataset: Dataset,
    readonly corruption: Corruption,
    readonly groups: readonly RunGroup[],
  ) {
    this.rows = groups.flatMap((g) => g.rows);
  }

  /** Runs the clean and corrupted prompts of every batch, keeping their sender caches. */
  static async prepare(model: PatchableModel, dataset: Dataset, opts: PrepareOptions = {}): Promise<PreparedRuns> {
    const corruption = opts.corruption ?? strCorruptionOf(dataset);
    if (dataset.pairs.length === 0) throw new Error('discovery needs at least one prompt pair');
    for (const p of dataset.pairs) {
      if (p.clean.length !== p.corrupted.length) throw new Error(`pair ${p.index}: clean and corrupted prompts differ in length (${p.clean.length} vs ${p.corrupted.length})`);
    }
    const sigma = corruption.kind === 'gn' ? embeddingSigma(model.config, model.weights, corruption.noise.sigmaFrom, dataset) : 0;
    const samples = samplesPerPair(corruption);
    const perBatch = Math.max(1, opts.batchSize ?? 64);
    const byLength = new Map<number, RunRow[]>();
    for (const pair of dataset.pairs) {
      const list = byLength.get(pair.clean.length) ?? [];
      for (let sample = 0; sample < samples; sample++) list.push({ pair, sample });
      byLength.set(pair.clean.length, list);
    }
    const groups: RunGroup[] = [];
    let offset = 0;
    for (const seqLen of [...byLength.keys()].sort((a, b) => a - b)) {
      const all = byLength.get(seqLen)!;
      for (let i = 0; i < all.length; i += perBatch) {
        const rows = all.slice(i, i + perBatch);
        const cleanInput: RunInput = { tokens: rows.map((r) => r.pair.clean) };
        const corrupted = corruptedInput(model.config, model.weights, corruption, rows, sigma);
        const positions = targetPositions(rows);
        const offsets = targetOffsets(rows);
        const cleanRun = await model.run(cleanInput, positions);
        const corruptedRun = await model.run(corrupted, positions);
        const V = model.config.vocabSize;
        const cleanRows = rows.map((_, b) => new CleanRow(rowBlock(cleanRun.logits, offsets, b, V).slice(), V));
        groups.push({ seqLen, rows, offset, cleanInput, corruptedInput: corrupted, positions, offsets, clean: cleanRun, corrupted: corruptedRun, cleanRows });
        offset += rows.length;
      }
    }
    return new PreparedRuns(model, dataset, corruption, groups);
  }

  get nRows(): number {
    return this.rows.length;
  }

  /** Throws when a metric cannot score this dataset (e.g. logit difference without wrong answers). */
  checkMetric(metric: Metric): void {
    const problems = checkMetrics(this.dataset, [metric]);
    if (problems.length > 0) throw new Error(problems.join('; '));
  }

  /** Per-row scores of the unpatched clean and corrupted runs, in row order. */
  baselineRows(metric: Metric): { clean: Float64Array; corrupted: Float64Array } {
    const V = this.model.config.vocabSize;
    const clean = new Float64Array(this.nRows);
    const corrupted = new Float64Array(this.nRows);
    for (const g of this.groups) {
      g.rows.forEach((r, b) => {
        const cl = g.cleanRows[b]!;
        clean[g.offset + b] = metric.score(cl.logits, r.pair, cl);
        corrupted[g.offset + b] = metric.score(rowBlock(g.corrupted.logits, g.offsets, b, V), r.pair, cl);
      });
    }
    return { clean, corrupted };
  }

  /**
   * Scores [K x nRows] (config-major, rows in PreparedRuns.rows order) of K mask configurations:
   * each run on the base prompt of the direction (noising: clean; denoising: corrupted) with patches
   * from the other run. `masks` may depend on the group (per-position masks need its length).
   */
  async scoreRows(masks: EdgeMasks | ((g: RunGroup) => EdgeMasks), opts: EvaluateOptions): Promise<Float64Array> {
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
  async scoreGroup(g: RunGroup, masks: EdgeMasks, opts: EvaluateOptions): Promise<Float64Array> {
    const { direction, metric } = opts;
    const { nLayers } = this.model.config;
    const V = this.model.config.vocabSize;
    const noising = direction === 'noising';
    const input = noising ? g.cleanInput : g.corruptedInput;
    let base = noising ? g.clean.cache : g.corrupted.cache;
    const source = noising ? g.corrupted.cache : g.clean.cache;
    let fromLayer: number | undefined;
    let m = masks;
    const L = Math.min(opts.prefixLayer ?? 0, nLayers);
    if (!noising && L > 0) {
      base = this.hybrid(g);
      fromLayer = L;
      const rEnd = L >= nLayers ? this.model.graph.logitsReceiver : this.model.graph.layerReceiverStart(L);
      if (m.touches(0, rEnd)) m = stripBelow(m, rEnd);
    }
    this.passes++;
    const res = await this.model.runPatched(input, { source, base, masks: m, positions: g.positions, fromLayer, maxRows: opts.maxRows });
    const B = g.rows.length;
    const K = m.k;
    const out = new Float64Array(K * B);
    for (let k = 0; k < K; k++) {
      g.rows.forEach((r, b) => {
        out[k * B + b] = metric.score(rowBlock(res.logits, g.offsets, b, V, k), r.pair, g.cleanRows[b]!);
      });
    }
    return out;
  }

  /** Mean score over all rows of each of K configurations. */
  async meanScores(masks: EdgeMasks | ((g: RunGroup) => EdgeMasks), opts: EvaluateOptions): Promise<Float64Array> {
    const rows = await this.scoreRows(masks, opts);
    return meanPerConfig(rows, this.nRows);
  }

  /**
   * The cache of "corrupted input, every edge into layers < l patched from the clean run": those
   * layers' senders equal the clean run's, the `input` sender stays corrupted, and the residual
   * stream is their plain sum (the runtime adds patch deltas on top). Valid for every l.
   */
  private hybrid(g: RunGroup): SenderCache {
    let h = this.hybrids.get(g);
    if (h) return h;
    const clean = g.clean.cache;
    const corrupt = g.corrupted.cache;
    const X = clean.batch * clean.seqLen * clean.dModel;
    const senders = clean.senders.slice();
    senders.set(corrupt.senders.subarray(0, X), 0);
    const residStart = clean.residStart.map((r) => {
      const out = new Float32Array(X);
      for (let i = 0; i < X; i++) out[i] = r[i]! - clean.senders[i]! + corrupt.senders[i]!;
      return out;
    });
    h = { batch: clean.batch, seqLen: clean.seqLen, dModel: clean.dModel, senders, residStart };
    this.hybrids.set(g, h);
    return h;
  }
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
