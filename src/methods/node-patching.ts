// Node-level activation patching of a dataset: clean and corrupted runs per batch of prompt pairs,
// then every component of a granularity patched through the runtime's masks, many components per
// pass and each pass starting at the first layer it touches. Work is cut into units (batches of
// pairs) so a caller can store each unit as it finishes and skip finished units on a re-run.
import { type Corruption, type Direction, samplesPerPair } from '../core/vocabulary.js';
import type { PatchableModel } from '../runtime/patchable-model.js';
import { EdgeMasks } from '../runtime/masks.js';
import type { LogitPositions, RunInput } from '../runtime/inputs.js';
import type { Dataset, PromptPair } from '../tasks/types.js';
import type { Component, Granularity } from '../experiment/components.js';
import { corruptedInput, embeddingSigma } from '../experiment/corruption.js';
import { CleanRow, type Metric, rowBlock, targetOffsets, targetPositions } from '../experiment/metrics.js';


export interface PatchingJob {
  readonly model: PatchableModel;
  readonly dataset: Dataset;
  readonly corruption: Corruption;
  readonly direction: Direction;
  readonly metrics: readonly Metric[];
  readonly granularity: Granularity;
  readonly window: number;
  /** Prompt rows per batch (pairs x noise samples). */
  readonly batchSize: number;
}

/** One component's effect on one pair. */
export interface Effect {
  readonly component: Component;
  readonly pair: number;
  readonly value: number;
}

export interface UnitResult {
  readonly unit: string;
  /** Effects per metric name. */
  readonly effects: ReadonlyMap<string, Effect[]>;
  readonly seconds: number;
}

/** Dataset-level scores of the unpatched runs: the normaliser of normalised metrics. */
export interface Baselines {
  /** Per metric: mean clean score, mean corrupted score, and normaliser (clean - corrupted, or 1). */
  readonly metrics: Readonly<Record<string, { clean: number; corrupted: number; normaliser: number }>>;
  /** Sigma of the Gaussian noise (before the multiplier), when the corruption is GN. */
  readonly sigma?: number;
}

interface Unit {
  readonly key: string;
  readonly pairs: readonly PromptPair[];
}

/** Batches of pairs of one token length each, in a stable order: the units of work. */
export function planUnits(job: Pick<PatchingJob, 'dataset' | 'corruption' | 'batchSize'>): Unit[] {
  const samples = samplesPerPair(job.corruption);
  const perBatch = Math.max(1, Math.floor(job.batchSize / samples));
  const byLength = new Map<number, PromptPair[]>();
  for (const p of job.dataset.pairs) {
    const list = byLength.get(p.clean.length) ?? [];
    list.push(p);
    byLength.set(p.clean.length, list);
  }
  const units: Unit[] = [];
  for (const len of [...byLength.keys()].sort((a, b) => a - b)) {
    const pairs = byLength.get(len)!;
    for (let i = 0; i < pairs.length; i += perBatch) {
      const chunk = pairs.slice(i, i + perBatch);
      units.push({ key: `len${len}:pairs${chunk[0]!.index}-${chunk[chunk.length - 1]!.index}`, pairs: chunk });
    }
  }
  return units;
}

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

interface Row {
  readonly pair: PromptPair;
  readonly sample: number;
}

function rowsOf(unit: Unit, corruption: Corruption): Row[] {
  const samples = samplesPerPair(corruption);
  return unit.pairs.flatMap((pair) => Array.from({ length: samples }, (_, sample) => ({ pair, sample })));
}

export class PatchingEngine {
  private sigma: number | undefined;

  constructor(readonly job: PatchingJob) {
    const c = job.corruption;
    if (c.kind === 'gn') this.sigma = embeddingSigma(job.model.config, job.model.weights, c.noise.sigmaFrom, job.dataset);
  }

  get units(): Unit[] {
    return planUnits(this.job);
  }

  private inputs(rows: readonly Row[]): { clean: RunInput; corrupted: RunInput; positions: LogitPositions; offsets: number[] } {
    const { model, corruption } = this.job;
    return {
      clean: { tokens: rows.map((r) => r.pair.clean) },
      corrupted: corruptedInput(model.config, model.weights, corruption, rows, this.sigma ?? 0),
      positions: targetPositions(rows),
      offsets: targetOffsets(rows),
    };
  }

  /** Clean and corrupted scores over the whole dataset (two plain forwards). */
  async baselines(): Promise<Baselines> {
    const { model, metrics } = this.job;
    const V = model.config.vocabSize;
    const sums = metrics.map(() => ({ clean: 0, corrupted: 0 }));
    let n = 0;
    for (const unit of this.units) {
      const rows = rowsOf(unit, this.job.corruption);
      const inp = this.inputs(rows);
      const clean = await model.plainForward(inp.clean, inp.positions);
      const corrupted = await model.plainForward(inp.corrupted, inp.positions);
      rows.forEach((r, b) => {
        const cl = new CleanRow(rowBlock(clean, inp.offsets, b, V), V);
        const co = rowBlock(corrupted, inp.offsets, b, V);
        metrics.forEach((m, i) => {
          sums[i]!.clean += m.score(cl.logits, r.pair, cl);
          sums[i]!.corrupted += m.score(co, r.pair, cl);
        });
        n++;
      });
    }
    const out: Record<string, { clean: number; corrupted: number; normaliser: number }> = {};
    metrics.forEach((m, i) => {
      const clean = sums[i]!.clean / n;
      const corrupted = sums[i]!.corrupted / n;
      out[m.name] = { clean, corrupted, normaliser: m.normalised ? clean - corrupted : 1 };
    });
    return { metrics: out, sigma: this.sigma };
  }

  /** Components of this granularity for prompts of length seqLen, with single-layer ones beside windows. */
  components(seqLen: number): Component[] {
    const { granularity: g, window } = this.job;
    const ctx = { graph: this.job.model.graph, seqLen };
    const list = g.components({ ...ctx, window });
    // Zhang & Nanda compare a window's effect with the sum of its single layers' effects: compute both.
    if (window > 1) list.push(...g.components({ ...ctx, window: 1 }));
    return list;
  }

  /** Patches every component for one unit and returns per-metric effects for each pair. */
  async runUnit(unit: Unit, baselines: Baselines, configsPerPass = 16): Promise<UnitResult> {
    const t0 = performance.now();
    const { model, metrics, direction, granularity } = this.job;
    const V = model.config.vocabSize;
    const rows = rowsOf(unit, this.job.corruption);
    const inp = this.inputs(rows);
    const seqLen = unit.pairs[0]!.clean.length;
    const clean = await model.run(inp.clean, inp.positions);
    const corrupted = await model.run(inp.corrupted, inp.positions);
    const [base, baseInput, source] = direction === 'denoising' ? [corrupted, inp.corrupted, clean] : [clean, inp.clean, corrupted];
    const B = rows.length;
    const block = (x: Float32Array, b: number, k = 0) => rowBlock(x, inp.offsets, b, V, k);
    const cleanRows = rows.map((_, b) => new CleanRow(block(clean.logits, b), V));
    const baseScores = metrics.map((m) => rows.map((r, b) => m.score(block(base.logits, b), r.pair, cleanRows[b]!)));

    // Components that start at the same layer share a pass, so each pass reuses the longest prefix.
    const comps = this.components(seqLen).sort((a, b) => a.layer - b.layer);
    const effects = new Map<string, Effect[]>(metrics.map((m) => [m.name, []]));
    for (let i = 0; i < comps.length; ) {
      const layer = comps[i]!.layer;
      const chunk: Component[] = [];
      while (i < comps.length && comps[i]!.layer === layer && chunk.length < configsPerPass) chunk.push(comps[i++]!);
      const masks = EdgeMasks.zeros(model.graph, chunk.length, granularity.perPosition ? seqLen : undefined);
      chunk.forEach((c, k) => c.apply(masks, k));
      const out = await model.runPatched(baseInput, { source: source.cache, base: base.cache, masks, positions: inp.positions });
      chunk.forEach((c, k) => {
        metrics.forEach((m, mi) => {
          const norm = baselines.metrics[m.name]!.normaliser;
          // Average over noise samples: one effect per pair.
          const perPair = new Map<number, { sum: number; n: number }>();
          rows.forEach((r, b) => {
            const pt = m.score(block(out.logits, b, k), r.pair, cleanRows[b]!);
            const e = (pt - baseScores[mi]![b]!) / norm;
            const acc = perPair.get(r.pair.index) ?? { sum: 0, n: 0 };
            acc.sum += e;
            acc.n += 1;
            perPair.set(r.pair.index, acc);
          });
          for (const [pair, acc] of perPair) effects.get(m.name)!.push({ component: c, pair, value: acc.sum / acc.n });
        });
      });
    }
    return { unit: unit.key, effects, seconds: (performance.now() - t0) / 1000 };
  }
}
