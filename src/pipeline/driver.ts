// The one resumable stage driver every pipeline stage goes through (patching, discovery, path
// patching). A stage point is a set of stored runs that share units of work (one run per metric of
// a patching point, one per ACDC sweep, ...). The driver keys each run by its content (the same
// rule for every stage: a hash of the stage, the parsed settings and the model's and dataset's
// fingerprints), resumes units stored already, leases each unit before computing it so concurrent
// processes on one database share the work, stops after a unit budget, reports progress, and
// finishes each run once. A unit in progress may keep a checkpoint (ACDC's decisions so far) under
// the point's first run; saving the unit deletes it. Every store call of a stage run is made here or in the stage's save and
// finish functions.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AcdcCheckpointer } from '../methods/acdc-checkpoint.js';
import type { ProgressReporter } from '../methods/method.js';
import { canonicalJson } from '../store/json.js';
import type { UnitLeases } from '../store/leases.js';
import type { Store } from '../store/store.js';
import type { Dataset } from '../tasks/types.js';
import { codeVersion } from './code-version.js';
import { PointProgress, type ProgressOptions } from './progress.js';

export type StageName = 'patching' | 'discovery' | 'path-patching';

/** A run of a point as stored: its id and its position in StagePoint.runs. */
export interface StoredRun {
  readonly id: number;
  readonly index: number;
  /** Its content-derived key (names what belongs to it, e.g. circuits). */
  readonly key: string;
}

export interface StagePoint<Session, Output> {
  readonly stage: StageName;
  /** Shown in progress lines. */
  readonly label: string;
  readonly dataset: Dataset;
  /** The parsed settings of each stored run (JSON); the run key derives from them. */
  readonly runs: readonly Record<string, unknown>[];
  /** Unit names, stable across processes. */
  readonly units: readonly string[];
  /** What can fail on the data; run for every point of every stage before anything is stored. */
  check(): readonly string[];
  /** What the units share (model runs, baselines); opened only when a unit has to be computed. */
  open(): Promise<Session>;
  /**
   * One unit's work; touches no store but through `checkpoint`, where a unit that decides in sequence
   * (an ACDC threshold) keeps its progress, bound to the point's first run and the unit.
   */
  compute(session: Session, unit: string, progress: ProgressReporter, checkpoint: AcdcCheckpointer): Promise<Output>;
  /** Stores one unit of one run, marking it complete in the same transaction. */
  save(store: Store, run: StoredRun, unit: string, output: Output, seconds: number): Promise<void>;
  /** Finishes the runs once every unit is stored (detections, curves, detail). */
  finish(store: Store, runs: readonly StoredRun[], session: () => Promise<Session>, seconds: number): Promise<void>;
  /** Frees what the point's session computed (model runs, caches) once the point is done. */
  close(): void;
}

export interface DriverContext {
  readonly store: Store;
  readonly leases: UnitLeases;
  readonly pipeline: string;
  readonly modelId: number;
  readonly modelFingerprint: string;
  readonly progress: ProgressOptions;
  /** Units this invocation may still compute (tests of interruption); shared by every point. */
  readonly budget: { units: number };
  /** How often to look again at units other processes hold (ms). */
  readonly pollMs?: number;
}

export interface PointOutcome {
  /** Ids of the point's runs, in StagePoint.runs order. */
  readonly runIds: readonly number[];
  /** False when the unit budget ran out first. */
  readonly complete: boolean;
  /** Units stored before this invocation looked (earlier invocations, other processes). */
  readonly resumedUnits: number;
  /** Units this invocation computed. */
  readonly computedUnits: number;
}

const sha = (x: unknown): string => createHash('sha256').update(canonicalJson(x)).digest('hex');

/** The content fingerprint of a dataset (task, settings and every pair). */
export function datasetFingerprint(d: Dataset): string {
  return sha({ task: d.task, settings: d.settings, pairs: d.pairs });
}

/** The run key: the same rule for every stage. */
export function runKey(stage: StageName, settings: Record<string, unknown>, modelFingerprint: string, datasetFp: string): string {
  return sha({ stage, settings, model: modelFingerprint, dataset: datasetFp }).slice(0, 16);
}

/** Every point's checks, as one list of problems (empty: nothing the data rules out). */
export function checkPoints(points: readonly StagePoint<unknown, unknown>[]): string[] {
  return points.flatMap((p) => p.check());
}

const FINISH = '@finish';

/** Runs one stage point to completion (or until the unit budget runs out). */
export async function drivePoint<Session, Output>(ctx: DriverContext, point: StagePoint<Session, Output>): Promise<PointOutcome> {
  const { store, leases } = ctx;
  const fp = datasetFingerprint(point.dataset);
  const d = point.dataset;
  const datasetId = await store.datasets.upsert({ fingerprint: fp, task: d.task, settings: d.settings, pairs: d.pairs });
  const keys = point.runs.map((s) => runKey(point.stage, s, ctx.modelFingerprint, fp));
  const scope = `${ctx.pipeline}:${sha(keys).slice(0, 16)}`;
  const opened = [];
  for (const [i, settings] of point.runs.entries()) {
    const o = await store.runs.open({ pipeline: ctx.pipeline, key: keys[i]!, modelId: ctx.modelId, datasetId, settings, codeVersion: codeVersion() });
    opened.push({ id: o.id, index: i, key: keys[i]!, status: o.status });
  }
  const runIds = opened.map((o) => o.id);
  const pending: StoredRun[] = opened.filter((o) => o.status !== 'done').map(({ id, index, key }) => ({ id, index, key }));
  if (pending.length === 0) return { runIds, complete: true, resumedUnits: point.units.length, computedUnits: 0 };

  const t0 = performance.now();
  await leases.enlist(
    scope,
    pending.map((r) => r.id),
  );
  const progress = new PointProgress(point.label, point.units.length, ctx.progress);
  try {
    let session: Promise<Session> | undefined;
    const getSession = () => (session ??= point.open());
    const stored = async () => Promise.all(pending.map((r) => store.runs.completedUnits(r.id)));
    const isDone = (sets: readonly Set<string>[], u: string) => sets.every((s) => s.has(u));

    let sets = await stored();
    const resumedUnits = point.units.filter((u) => isDone(sets, u)).length;
    progress.begin(resumedUnits);
    let computedUnits = 0;
    let seen = resumedUnits;
    for (;;) {
      // Units live holders have are skipped by a read, so waiting workers do not queue for the write lock.
      const held = await leases.heldByOthers(scope);
      let left = point.units.filter((u) => !isDone(sets, u));
      for (const unit of left) {
        if (ctx.budget.units <= 0) return { runIds, complete: false, resumedUnits, computedUnits };
        if (held.has(unit) || !(await leases.claim(scope, unit))) continue;
        try {
          // Another process may have stored it between our read and the claim.
          const now = await stored();
          if (isDone(now, unit)) continue;
          progress.startUnit(unit);
          const t1 = performance.now();
          const output = await point.compute(await getSession(), unit, progress, store.acdcCheckpoints.for(opened[0]!.id, unit));
          const seconds = (performance.now() - t1) / 1000;
          for (const [i, r] of pending.entries()) if (!now[i]!.has(unit)) await point.save(store, r, unit, output, seconds);
          computedUnits++;
          ctx.budget.units--;
          progress.unitDone(true);
          seen++;
        } finally {
          await leases.release(scope, unit);
        }
      }
      sets = await stored();
      left = point.units.filter((u) => !isDone(sets, u));
      const doneNow = point.units.length - left.length;
      for (; seen < doneNow; seen++) progress.unitDone(false);
      if (left.length === 0) break;
      // The rest are leased by live holders: wait for them to store or for their leases to expire.
      progress.waiting(left.length);
      await sleep(ctx.pollMs ?? 500);
    }

    // Every unit is stored: one process finishes the runs; the others wait until it has.
    for (;;) {
      const statuses = await Promise.all(pending.map((r) => store.runs.get(r.id)));
      if (statuses.every((s) => s.status === 'done')) break;
      if (await leases.claim(scope, FINISH)) {
        try {
          const again = await Promise.all(pending.map((r) => store.runs.get(r.id)));
          if (!again.every((s) => s.status === 'done')) await point.finish(store, pending, getSession, (performance.now() - t0) / 1000);
        } finally {
          await leases.release(scope, FINISH);
        }
        break;
      }
      await sleep(ctx.pollMs ?? 500);
    }
    progress.finished();
    return { runIds, complete: true, resumedUnits, computedUnits };
  } finally {
    progress.stop();
    point.close();
    await leases.leave(scope);
  }
}
