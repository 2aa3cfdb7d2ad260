// The patching stage: every grid point (method x corruption x direction x granularity x window) is
// one stage point whose runs are its metrics (all scored from the same patched passes) and whose
// units are the experiment's row groups; once every unit is stored, each run gets its detections.
// Method `exact` patches every component (node-patching); `attribution` estimates the same effects
// to first order from gradients (node-attribution, AtP) and is stored with method: attribution.
// Where the grid has both methods at a point, each attribution run is compared with its exact run
// (method-agreement.ts) once the stage is done, and the agreement stored (store.agreements).
import { getGranularity, positionChoiceName } from '../experiment/components.js';
import { corruptionName, type Detection } from '../core/vocabulary.js';
import { detect } from '../evaluation/detection.js';
import { type EffectAgreement, effectAgreement } from '../evaluation/method-agreement.js';
import { getMetric } from '../experiment/metrics.js';
import type { NodeEffects, NodePatchingSession, NodePatchingSettings } from '../methods/node-patching.js';
import { METHODS } from '../methods/registry.js';
import type { StagePoint } from './driver.js';
import type { Store } from '../store/store.js';
import type { StageContext, StagePlan } from './run-pipeline.js';
import { expandGrid, type GridPoint } from './spec.js';

export interface SettingResult {
  readonly point: GridPoint;
  readonly metric: string;
  /** Mean clean and corrupted scores of the metric over the dataset (before any patch). */
  readonly baseline?: { readonly clean: number; readonly corrupted: number };
  readonly runId: number;
  readonly detections: readonly Detection[];
  readonly resumedUnits: number;
  readonly computedUnits: number;
  /** An attribution run's agreement with the exact run of the same point and metric, where the grid has one. */
  readonly agreement?: { readonly exactRunId: number; readonly agreement: EffectAgreement };
}

/** For each attribution point of the grid, the index of the exact point with the same settings otherwise. */
export function exactCounterparts(grid: readonly GridPoint[]): Map<number, number> {
  const settings = (p: GridPoint): string => JSON.stringify([corruptionName(p.corruption), p.direction, p.granularity, p.window]);
  const exact = new Map<string, number>();
  grid.forEach((p, i) => {
    if (p.method === 'exact') exact.set(settings(p), i);
  });
  const out = new Map<number, number>();
  grid.forEach((p, i) => {
    const j = p.method === 'attribution' ? exact.get(settings(p)) : undefined;
    if (j !== undefined) out.set(i, j);
  });
  return out;
}

/** Compares an attribution run's stored effects and detections with its exact run's, and stores the agreement. */
export async function compareWithExact(store: Store, exactRunId: number, estimateRunId: number): Promise<EffectAgreement> {
  const [a, b] = [await store.runs.get(exactRunId), await store.runs.get(estimateRunId)];
  // Same grid point of one pipeline, so these hold by construction; a mismatch is a bug, not bad input.
  if (a.modelFingerprint !== b.modelFingerprint || a.datasetFingerprint !== b.datasetFingerprint) {
    throw new Error(`patching: runs ${exactRunId} and ${estimateRunId} differ in model or dataset; their effects cannot be compared`);
  }
  const agreement = effectAgreement(
    { effects: await store.runs.meanEffects(exactRunId), detections: await store.runs.detections(exactRunId) },
    { effects: await store.runs.meanEffects(estimateRunId), detections: await store.runs.detections(estimateRunId) },
  );
  await store.agreements.save(exactRunId, estimateRunId, agreement);
  return agreement;
}

export function patchingPoints(ctx: StageContext): StagePlan<SettingResult[]> {
  const { pipeline, pm } = ctx;
  const spec = pipeline.patching;
  const grid = spec ? expandGrid(pipeline) : [];
  const metrics = (spec?.metric ?? []).map(getMetric);
  const points = grid.map((point): StagePoint<NodePatchingSession, NodeEffects> => {
    const s = spec!;
    const corruption = point.corruption;
    const dataset = ctx.dataset(corruption);
    const exp = ctx.experiment(dataset, corruption, s.batch);
    const nodeMethod = point.method === 'attribution' ? METHODS['node-attribution'] : METHODS['node-patching'];
    const settings: NodePatchingSettings = { direction: point.direction, metrics, granularity: getGranularity(point.granularity), window: point.window, positions: s.positions };
    const positions = positionChoiceName(s.positions);
    const runs = metrics.map((m) => ({
      task: pipeline.task.name,
      taskOptions: pipeline.task.options ?? {},
      corruption: corruptionName(corruption),
      ...(corruption.kind === 'gn' ? { gn: corruption.noise } : {}),
      direction: point.direction,
      metric: m.name,
      granularity: point.granularity,
      window: point.window,
      // Only one-position runs name their positions: runs over all positions keep their settings (and keys).
      ...(positions === 'all' ? {} : { positions }),
      detectK: s.detect.k,
      batch: s.batch,
      // Only attribution runs name their method: exact runs keep the settings (and keys) they always had.
      ...(point.method === 'attribution' ? { method: 'attribution' } : {}),
    }));
    return {
      close: () => exp.release(),
      stage: 'patching',
      label: `${point.method === 'attribution' ? 'AtP ' : ''}${corruptionName(corruption)} ${point.direction} ${point.granularity}${point.window > 1 ? ` w${point.window}` : ''}${positions === 'all' ? '' : ` @${positions}`}`,
      dataset,
      runs,
      units: nodeMethod.units(exp, settings),
      check: () => nodeMethod.check(exp, settings).map((p) => (p.startsWith('positions: ') ? `patching.${p}` : `patching.metric: ${p}`)),
      open: () => nodeMethod.open(exp, settings),
      compute: (session, unit, progress) => session.run(unit, progress),
      save: async (store, run, unit, output, seconds) => {
        await store.runs.saveUnit(run.id, unit, output.get(metrics[run.index]!.name)!, seconds);
      },
      async finish(store, stored, session, seconds) {
        const { baselines } = await session();
        for (const r of stored) {
          const detections = detect(await store.runs.meanEffects(r.id), s.detect.k);
          await store.runs.saveDetections(
            r.id,
            detections.map((d) => ({ component: d.component, layer: d.layer, head: d.head, position: d.position, window: d.window, mean: d.mean, std: d.std, zscore: d.zscore, sign: d.sign })),
          );
          await store.runs.finish(r.id, {
            seconds,
            detail: { stage: 'patching', baselines: baselines.metrics[metrics[r.index]!.name]!, sigma: baselines.sigma ?? null, units: this.units.length, groundTruth: pm.groundTruth ?? null },
          });
        }
      },
    };
  });
  return {
    points,
    async results(store, outcomes) {
      const out: SettingResult[] = [];
      const counterparts = exactCounterparts(grid);
      for (const [i, o] of outcomes.entries()) {
        for (const [mi, runId] of o.runIds.entries()) {
          const detections: Detection[] = await store.runs.detections(runId);
          const detail = (await store.runs.get(runId)).detail;
          const baseline = detail?.stage === 'patching' ? { clean: detail.baselines.clean, corrupted: detail.baselines.corrupted } : undefined;
          // Recomputed on every complete pass (cheap: mean effects only), so a resumed run's agreement is current.
          const j = counterparts.get(i);
          const exactRunId = j === undefined ? undefined : outcomes[j]!.runIds[mi]!;
          const agreement = exactRunId === undefined ? undefined : { exactRunId, agreement: await compareWithExact(store, exactRunId, runId) };
          out.push({ point: grid[i]!, metric: metrics[mi]!.name, runId, baseline, detections, resumedUnits: o.resumedUnits, computedUnits: o.computedUnits, ...(agreement ? { agreement } : {}) });
        }
      }
      return out;
    },
  };
}
