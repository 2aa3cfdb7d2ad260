// Runs a pipeline: every grid point x metric becomes a stored run; work goes unit by unit (a batch
// of prompt pairs) and each unit's effects commit with its completion marker, so a re-run after a
// crash or kill skips finished units and redoes nothing.
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import { UserError } from '../core/errors.js';
import { corruptionName, type Detection, type PromptCorruption } from '../core/vocabulary.js';
import { packagePath } from '../core/package-root.js';
import { getGranularity } from '../experiment/components.js';
import { detect } from '../evaluation/detection.js';
import { checkMetrics, PatchingEngine } from '../methods/node-patching.js';
import { getMetric } from '../experiment/metrics.js';
import { PatchableModel } from '../runtime/patchable-model.js';
import { canonicalJson } from '../store/json.js';
import type { Store } from '../store/store.js';
import type { EffectRow } from '../store/types.js';
import { buildDataset } from '../tasks/registry.js';
import type { Dataset } from '../tasks/types.js';
import { codeVersion } from './code-version.js';
import { type PipelineModel, loadPipelineModel } from './model-source.js';
import { runDiscovery, type DiscoveryResult } from './run-discovery.js';
import { datasetCorruption, type GridPoint, type PatchingSpec, type Pipeline, expandGrid } from './spec.js';

const DATA_DIR = packagePath('data');

export interface SettingResult {
  readonly point: GridPoint;
  readonly metric: string;
  /** Mean clean and corrupted scores of the metric over the dataset (before any patch). */
  readonly baseline?: { readonly clean: number; readonly corrupted: number };
  readonly runId: number;
  readonly detections: readonly Detection[];
  readonly resumedUnits: number;
  readonly computedUnits: number;
}

export interface PipelineResult {
  readonly patching: SettingResult[];
  readonly discovery: DiscoveryResult[];
  /** False when a unit budget stopped the run early. */
  readonly complete: boolean;
}

/** What the stages share: the model, its runtime, the store and the datasets built so far. */
export interface StageContext {
  readonly pipeline: Pipeline;
  readonly store: Store;
  readonly pm: PipelineModel;
  readonly runtime: PatchableModel;
  readonly modelId: number;
  readonly log: (line: string) => void;
  readonly progress: boolean;
  dataset(corruption: PromptCorruption): Dataset;
  datasetId(dataset: Dataset): Promise<number>;
}

export interface RunPipelineOptions {
  readonly progress?: boolean;
  readonly log?: (line: string) => void;
  /** Stop after this many computed units (tests of interruption). */
  readonly maxUnits?: number;
}

function fingerprintDataset(d: Dataset): string {
  return createHash('sha256').update(canonicalJson({ task: d.task, settings: d.settings, pairs: d.pairs })).digest('hex');
}

export async function runPipeline(pipeline: Pipeline, store: Store, opts: RunPipelineOptions = {}): Promise<PipelineResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const pm: PipelineModel = await loadPipelineModel(pipeline.model, pipeline.groundTruth);
  const runtime = new PatchableModel(pm.model);
  try {
    const modelId = await store.models.upsert({
      fingerprint: pm.fingerprint,
      name: pm.model.config.name,
      path: 'path' in pipeline.model ? pipeline.model.path : JSON.stringify(pipeline.model),
      architecture: pm.model.config.architecture,
      config: pm.model.config,
    });
    const datasets = new Map<string, Dataset>();
    const ctx: StageContext = {
      pipeline, store, pm, runtime, modelId, log, progress: opts.progress ?? false,
      dataset(corruption) {
        const name = corruptionName(corruption);
        let d = datasets.get(name);
        if (!d) {
          d = buildDataset(
            { tokenizer: pm.tokenizer, vocabSize: pm.model.config.vocabSize, dataDir: DATA_DIR, baseDir: dirname(pipeline.file) },
            { task: pipeline.task.name, options: pipeline.task.options, corruption, seed: pipeline.task.seed, count: pipeline.task.count },
          );
          datasets.set(name, d);
        }
        return d;
      },
      datasetId: (d) => store.datasets.upsert({ fingerprint: fingerprintDataset(d), task: d.task, settings: d.settings, pairs: d.pairs }),
    };
    const budget = { units: opts.maxUnits ?? Infinity };
    const patching = pipeline.patching ? await runPatching(ctx, pipeline.patching, budget) : { results: [], complete: true };
    if (!patching.complete) return { patching: patching.results, discovery: [], complete: false };
    const discovery = pipeline.discovery ? await runDiscovery(ctx, pipeline.discovery) : [];
    return { patching: patching.results, discovery, complete: true };
  } finally {
    await runtime.release();
  }
}

async function runPatching(ctx: StageContext, spec: PatchingSpec, budget: { units: number }): Promise<{ results: SettingResult[]; complete: boolean }> {
  const { pipeline, store, pm, runtime, modelId, log } = ctx;
  const results: SettingResult[] = [];
  const grid = expandGrid(pipeline);
  const metrics = spec.metric.map(getMetric);
  for (const point of grid) {
    const dataset = ctx.dataset(datasetCorruption(pipeline, point.corruption));
    const problems = checkMetrics(dataset, metrics);
    if (problems.length > 0) throw new UserError(problems.map((p) => `${pipeline.file}: patching.metric: ${p}`).join('\n'));
    const datasetId = await ctx.datasetId(dataset);
    const corruption = point.corruption;
    const engine = new PatchingEngine({
      model: runtime,
      dataset,
      corruption,
      direction: point.direction,
      metrics,
      granularity: getGranularity(point.granularity),
      window: point.window,
      batchSize: spec.batch,
    });

    // One stored run per metric; all metrics come from the same patched logits.
    const runs = [];
    for (const m of metrics) {
      const settings = {
        task: pipeline.task.name,
        taskOptions: pipeline.task.options ?? {},
        corruption: corruptionName(corruption),
        ...(corruption.kind === 'gn' ? { gn: corruption.noise } : {}),
        direction: point.direction,
        metric: m.name,
        granularity: point.granularity,
        window: point.window,
        detectK: spec.detect.k,
        batch: spec.batch,
        model: pm.fingerprint,
        dataset: fingerprintDataset(dataset),
      };
      const key = createHash('sha256').update(canonicalJson(settings)).digest('hex').slice(0, 16);
      const opened = await store.runs.open({ pipeline: pipeline.name, key, modelId, datasetId, settings, codeVersion: codeVersion() });
      runs.push({ metric: m, opened, done: opened.status === 'done' ? null : await store.runs.completedUnits(opened.id) });
    }
    const units = engine.units;
    const label = `${corruptionName(point.corruption)} ${point.direction} ${point.granularity}${point.window > 1 ? ` w${point.window}` : ''}`;
    const pending = runs.filter((r) => r.done !== null);
    let resumedUnits = 0;
    let computedUnits = 0;
    if (pending.length > 0) {
      const t0 = performance.now();
      const bar = ctx.progress
        ? new cliProgress.SingleBar({ format: `${label.padEnd(32)} [{bar}] {value}/{total} units | {eta_formatted} left`, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic)
        : undefined;
      bar?.start(units.length, 0);
      const baselines = await engine.baselines();
      for (const unit of units) {
        const missing = pending.filter((r) => !r.done!.has(unit.key));
        if (missing.length === 0) {
          resumedUnits++;
          bar?.increment();
          continue;
        }
        if (budget.units <= 0) break;
        const res = await engine.runUnit(unit, baselines);
        for (const r of missing) {
          const rows: EffectRow[] = res.effects.get(r.metric.name)!.map((e) => ({
            component: e.component.name,
            kind: e.component.kind,
            layer: e.component.layer,
            head: e.component.head,
            position: e.component.position,
            window: e.component.window,
            prompt: e.pair,
            value: e.value,
          }));
          await store.runs.saveUnit(r.opened.id, unit.key, rows, res.seconds);
          r.done!.add(unit.key);
        }
        computedUnits++;
        budget.units--;
        bar?.increment();
      }
      bar?.stop();
      if (budget.units <= 0 && pending.some((r) => units.some((u) => !r.done!.has(u.key)))) {
        log(`stopped after the unit budget: ${label} is incomplete; run again to resume`);
        return { results, complete: false };
      }
      for (const r of pending) {
        const effects = await store.runs.meanEffects(r.opened.id);
        const detections = detect(effects, spec.detect.k);
        await store.runs.saveDetections(r.opened.id, detections.map((d) => ({ component: d.component, layer: d.layer, head: d.head, position: d.position, window: d.window, mean: d.mean, std: d.std, zscore: d.zscore, sign: d.sign })));
        await store.runs.finish(r.opened.id, {
          seconds: (performance.now() - t0) / 1000,
          detail: { stage: 'patching', baselines: baselines.metrics[r.metric.name]!, sigma: baselines.sigma ?? null, units: units.length, groundTruth: pm.groundTruth ?? null },
        });
      }
    }
    for (const r of runs) {
      const detections: Detection[] = await store.runs.detections(r.opened.id);
      const detail = (await store.runs.get(r.opened.id)).detail;
      const baseline = detail?.stage === 'patching' ? { clean: detail.baselines.clean, corrupted: detail.baselines.corrupted } : undefined;
      results.push({ point, metric: r.metric.name, runId: r.opened.id, baseline, detections, resumedUnits, computedUnits });
    }
  }
  return { results, complete: true };
}

export const fingerprintOfDataset = fingerprintDataset;
