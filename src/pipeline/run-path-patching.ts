// The path-patching stage: for each (corruption, direction, metric), every sender's path into a
// receiver set (e.g. every head -> logits, or every head -> the q inputs of given heads), stored as
// one run whose units are the experiment's row groups and whose effects are one row per
// (sender, pair). A run's mean effect per sender equals pathPatch()'s.
import { type Corruption, corruptionName, type Direction, type MetricName } from '../core/vocabulary.js';
import { getMetric } from '../experiment/metrics.js';
import type { PathEffects, PathPatchingSession, PathPatchingSettings, PathPosition } from '../methods/path-patching.js';
import { METHODS } from '../methods/registry.js';
import type { StagePoint } from './driver.js';
import type { StageContext, StagePlan } from './run-pipeline.js';
import type { PathPatchingSpec } from './spec.js';

const pathPatching = METHODS['path-patching'];

export interface PathPatchingRequest {
  /** The receiver set, by name (`logits`, `a1.h7<q>`, `m0`). */
  readonly receivers: readonly string[];
  /** The set's name (a pipeline's named receiver sets): stored with the runs, the viewer's label. */
  readonly receiverSet?: string;
  /** Senders to sweep; default every sender that feeds some receiver of the set. */
  readonly senders?: readonly string[];
  readonly corruption: readonly Corruption[];
  readonly direction: readonly Direction[];
  readonly metric: readonly MetricName[];
  readonly position: PathPosition;
  /** Prompt rows per unit of work. */
  readonly batch: number;
}

export interface PathPatchingPoint {
  readonly corruption: Corruption;
  readonly direction: Direction;
  readonly metric: MetricName;
}

export interface PathPatchingResult {
  readonly point: PathPatchingPoint;
  /** The receiver set's name (its receivers joined when it has none). */
  readonly receiverSet: string;
  readonly runId: number;
  readonly normaliser: number;
  /** Per sender, in sweep order: mean effect over the dataset's pairs. */
  readonly effects: readonly { readonly sender: string; readonly effect: number }[];
  readonly resumedUnits: number;
  readonly computedUnits: number;
}

export function pathPatchingPoints(ctx: StageContext, req: PathPatchingRequest): StagePlan<PathPatchingResult[]> {
  const { pipeline } = ctx;
  const grid: PathPatchingPoint[] = req.corruption.flatMap((corruption) => req.direction.flatMap((direction) => req.metric.map((metric) => ({ corruption, direction, metric }))));
  const points = grid.map((point): StagePoint<PathPatchingSession, PathEffects> => {
    const corruption = point.corruption;
    const dataset = ctx.dataset(corruption);
    const exp = ctx.experiment(dataset, corruption, req.batch);
    const settings: PathPatchingSettings = { receivers: req.receivers, senders: req.senders, direction: point.direction, metric: getMetric(point.metric), position: req.position };
    const stored = {
      task: pipeline.task.name,
      taskOptions: pipeline.task.options ?? {},
      corruption: corruptionName(corruption),
      ...(corruption.kind === 'gn' ? { gn: corruption.noise } : {}),
      direction: point.direction,
      metric: point.metric,
      receivers: req.receivers,
      ...(req.receiverSet !== undefined ? { receiverSet: req.receiverSet } : {}),
      senders: req.senders ?? null,
      position: req.position,
      batch: req.batch,
    };
    return {
      close: () => exp.release(),
      stage: 'path-patching',
      label: `path ${corruptionName(corruption)} ${point.direction} ${point.metric} -> ${req.receivers.join(',')}`,
      dataset,
      runs: [stored],
      units: pathPatching.units(exp, settings),
      check: () => pathPatching.check(exp, settings).map((p) => `path patching: ${p}`),
      open: () => pathPatching.open(exp, settings),
      compute: (session, unit, progress) => session.run(unit, progress),
      save: async (store, run, unit, rows, seconds) => {
        await store.runs.saveUnit(run.id, unit, rows, seconds);
      },
      async finish(store, runs, session, seconds) {
        const s = await session();
        for (const r of runs) await store.runs.finish(r.id, { seconds, detail: { stage: 'path-patching', normaliser: s.normaliser, baseScore: s.baseScore, units: this.units.length } });
      },
    };
  });
  return {
    points,
    async results(store, outcomes) {
      const out: PathPatchingResult[] = [];
      for (const [i, o] of outcomes.entries()) {
        const runId = o.runIds[0]!;
        const detail = (await store.runs.get(runId)).detail;
        const means = await store.runs.meanEffects(runId);
        // The sweep order: the graph's sender order (input, a0.h0, ..., m0, a1.h0, ...).
        const order = (name: string) => ctx.runtime.graph.senderIndex(name);
        const effects = [...means].sort((a, b) => order(a.component) - order(b.component)).map((m) => ({ sender: m.component, effect: m.mean }));
        out.push({
          point: grid[i]!,
          receiverSet: req.receiverSet ?? req.receivers.join(','),
          runId,
          normaliser: detail?.stage === 'path-patching' ? detail.normaliser : NaN,
          effects,
          resumedUnits: o.resumedUnits,
          computedUnits: o.computedUnits,
        });
      }
      return out;
    },
  };
}

/** The pipeline's pathPatching section: one sweep per receiver set, its points in set order. */
export function pathPatchingSectionPoints(ctx: StageContext, spec: PathPatchingSpec | undefined): StagePlan<PathPatchingResult[]> {
  const plans = (spec?.receivers ?? []).map((set) =>
    pathPatchingPoints(ctx, {
      receivers: set.receivers,
      receiverSet: set.name,
      senders: spec!.senders,
      corruption: spec!.corruption,
      direction: spec!.direction,
      metric: spec!.metric,
      position: spec!.position,
      batch: spec!.batch,
    }),
  );
  return {
    points: plans.flatMap((p) => p.points),
    async results(store, outcomes) {
      const out: PathPatchingResult[] = [];
      let at = 0;
      for (const p of plans) {
        out.push(...(await p.results(store, outcomes.slice(at, at + p.points.length))));
        at += p.points.length;
      }
      return out;
    },
  };
}
