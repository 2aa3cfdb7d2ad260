// Runs a pipeline: every stage (patching, discovery, path patching) becomes a
// list of stage points, all planned and checked against the data before anything is stored, then
// driven one by one through the resumable driver (driver.ts): units stored as they finish, leased
// so concurrent processes share them, skipped on a re-run.
import { dirname, resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { packagePath } from '../core/package-root.js';
import { type Corruption, corruptionName } from '../core/vocabulary.js';
import { readReferencePrompts } from '../experiment/ablation.js';
import { Experiment } from '../experiment/experiment.js';
import { PatchableModel } from '../runtime/patchable-model.js';
import { UnitLeases } from '../store/leases.js';
import type { Store } from '../store/store.js';
import { buildDataset } from '../tasks/registry.js';
import type { Dataset } from '../tasks/types.js';
import { checkPoints, type DriverContext, drivePoint, type StagePoint } from './driver.js';
import { type PipelineModel, loadPipelineModel } from './model-source.js';
import type { ProgressOptions } from './progress.js';
import { discoveryPoints, type DiscoveryResult } from './run-discovery.js';
import { patchingPoints, type SettingResult } from './run-patching.js';
import { type PathPatchingResult, pathPatchingSectionPoints } from './run-path-patching.js';
import { datasetCorruption, type Pipeline } from './spec.js';

export type { SettingResult } from './run-patching.js';

const DATA_DIR = packagePath('data');

export interface PipelineResult {
  readonly patching: SettingResult[];
  readonly discovery: DiscoveryResult[];
  readonly pathPatching: PathPatchingResult[];
  /** False when a unit budget stopped the run early. */
  readonly complete: boolean;
}

/** What the stages share: the model, its runtime and the datasets and experiments built so far. */
export interface StageContext {
  readonly pipeline: Pipeline;
  readonly pm: PipelineModel;
  readonly runtime: PatchableModel;
  /** The task's dataset for a corruption (built once per prompt corruption; ablations use the default STR prompts). */
  dataset(corruption: Corruption): Dataset;
  /** The experiment of a dataset under a corruption (planned: its runs are computed when a unit needs them). */
  experiment(dataset: Dataset, corruption: Corruption, batchSize: number): Experiment;
}

export interface RunPipelineOptions {
  /** 'bar' on a terminal, 'lines' in logs (default), 'off'. */
  readonly progress?: ProgressOptions['mode'];
  /** Seconds between progress lines (default 10). */
  readonly progressEvery?: number;
  readonly log?: (line: string) => void;
  /** Stop after this many computed units (tests of interruption). */
  readonly maxUnits?: number;
  /** Intra-op threads of the model's sessions (default: every core). */
  readonly threads?: number;
}

/** A stage's points and how to read its results once they are driven. */
export interface StagePlan<Result> {
  readonly points: readonly StagePoint<unknown, unknown>[];
  results(store: Store, outcomes: readonly { runIds: readonly number[]; resumedUnits: number; computedUnits: number }[]): Promise<Result>;
}

/**
 * Loads the pipeline's model, plans every stage with `plan`, checks every point, then drives them in
 * order. Returns each stage's results, or complete: false when the unit budget ran out.
 */
export async function runStages<Results extends readonly unknown[]>(
  pipeline: Pipeline,
  store: Store,
  opts: RunPipelineOptions,
  plan: (ctx: StageContext) => { readonly [K in keyof Results]: StagePlan<Results[K]> },
): Promise<{ results: Results | undefined; complete: boolean }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const pm: PipelineModel = await loadPipelineModel(pipeline.model, pipeline.groundTruth);
  const runtime = new PatchableModel(pm.model, { threads: opts.threads });
  const leases = new UnitLeases(store.connection);
  try {
    const datasets = new Map<string, Dataset>();
    const ctx: StageContext = {
      pipeline,
      pm,
      runtime,
      dataset(c) {
        const corruption = datasetCorruption(pipeline, c);
        const name = corruptionName(corruption);
        let d = datasets.get(name);
        if (!d) {
          d = buildDataset(
            { tokenizer: pm.tokenizer, bosId: pm.bosId, vocabSize: pm.model.config.vocabSize, dataDir: DATA_DIR, baseDir: dirname(pipeline.file) },
            { task: pipeline.task.name, options: pipeline.task.options, corruption, seed: pipeline.task.seed, count: pipeline.task.count },
          );
          datasets.set(name, d);
        }
        return d;
      },
      experiment: (dataset, corruption, batchSize) => {
        // Mean ablation over a file: its prompts, read (and checked) when the stage is planned.
        const ref = corruption.kind === 'mean' && corruption.reference !== undefined ? resolve(dirname(pipeline.file), corruption.reference) : undefined;
        const meanReference = ref === undefined ? undefined : readReferencePrompts(ref, pm.tokenizer, pm.model.config.vocabSize);
        try {
          return Experiment.plan(runtime, dataset, { corruption, batchSize, meanReference });
        } catch (e) {
          // Data problems an ablation finds (a prompt length with no resampling partner) name the pipeline.
          if (e instanceof UserError) throw new UserError(`${pipeline.file}: ${e.message}`);
          throw e;
        }
      },
    };
    // Every dataset is built and every check that can fail on data runs before anything is stored.
    const plans = plan(ctx);
    const problems = checkPoints(plans.flatMap((p) => p.points));
    if (problems.length > 0) throw new UserError(problems.map((p) => `${pipeline.file}: ${p}`).join('\n'));

    const modelId = await store.models.upsert({
      fingerprint: pm.fingerprint,
      name: pm.model.config.name,
      path: 'path' in pipeline.model ? pipeline.model.path : JSON.stringify(pipeline.model),
      architecture: pm.model.config.architecture,
      config: pm.model.config,
    });
    const dctx: DriverContext = {
      store,
      leases,
      pipeline: pipeline.name,
      modelId,
      modelFingerprint: pm.fingerprint,
      progress: { mode: opts.progress ?? 'lines', everySeconds: opts.progressEvery, log },
      budget: { units: opts.maxUnits ?? Infinity },
    };
    leases.start();
    const results: unknown[] = [];
    for (const p of plans) {
      const outcomes = [];
      for (const point of p.points) {
        const o = await drivePoint(dctx, point);
        if (!o.complete) {
          log(`stopped after the unit budget: ${point.label} is incomplete; run again to resume`);
          return { results: undefined, complete: false };
        }
        outcomes.push(o);
      }
      results.push(await p.results(store, outcomes));
    }
    return { results: results as unknown as Results, complete: true };
  } finally {
    leases.stop();
    await runtime.release();
  }
}

export async function runPipeline(pipeline: Pipeline, store: Store, opts: RunPipelineOptions = {}): Promise<PipelineResult> {
  const { results, complete } = await runStages<[SettingResult[], DiscoveryResult[], PathPatchingResult[]]>(pipeline, store, opts, (ctx) => [
    patchingPoints(ctx),
    discoveryPoints(ctx),
    pathPatchingSectionPoints(ctx, pipeline.pathPatching),
  ]);
  return { patching: results?.[0] ?? [], discovery: results?.[1] ?? [], pathPatching: results?.[2] ?? [], complete };
}
