// What every method is to the pipeline: units of work on an experiment, checks that can fail on
// the data (run before anything is stored), and a session that computes one unit at a time with a
// progress reporter. The registry (registry.ts) maps method names to methods of this shape.
import type { MethodName } from '../core/vocabulary.js';
import type { Experiment } from '../experiment/experiment.js';
import type { AcdcCheckpointer } from './acdc-checkpoint.js';

/** Progress inside one unit of work (ACDC: decisions; patching: passes). */
export interface ProgressReporter {
  /** `done` of `total` steps; `detail` is a short phrase such as "12 edges kept". */
  step(done: number, total: number, detail?: string): void;
  /** An event worth a line of its own (a unit resumed from a checkpoint). */
  note?(text: string): void;
}

export const SILENT: ProgressReporter = { step: () => undefined };

/** A method's shared state for one experiment (baselines, prepared runs) and its unit computation. */
export interface MethodSession<Output> {
  /** `checkpoint`: where a unit that decides in sequence (an ACDC threshold) keeps its progress; other methods ignore it. */
  run(unit: string, progress: ProgressReporter, checkpoint?: AcdcCheckpointer): Promise<Output>;
}

export interface Method<Settings, Output, Session extends MethodSession<Output> = MethodSession<Output>> {
  readonly name: MethodName;
  /** Names of the units of work, stable across processes and re-runs (cheap: nothing runs). */
  units(exp: Experiment, settings: Settings): readonly string[];
  /** Problems the data has with the settings (a metric a pair cannot score, an unknown receiver). */
  check(exp: Experiment, settings: Settings): readonly string[];
  /** Computes what every unit shares (the model runs here). */
  open(exp: Experiment, settings: Settings): Promise<Session>;
}
