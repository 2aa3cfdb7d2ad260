// The rows the store reads and writes, as the rest of patchwise sees them.
import type { Json } from './json.js';

export type RunStatus = 'pending' | 'running' | 'done' | 'failed';

export interface ModelRecord {
  /** Content fingerprint of the weights and config; equal fingerprints are the same model. */
  readonly fingerprint: string;
  readonly name: string;
  readonly path: string;
  readonly architecture: string;
  readonly config: unknown;
}

export interface DatasetRecord {
  /** Content fingerprint of the prompt pairs; equal fingerprints are the same dataset. */
  readonly fingerprint: string;
  readonly task: string;
  readonly settings: unknown;
  /** The prompt pairs, as JSON. */
  readonly pairs: unknown;
}

export interface RunRequest {
  readonly pipeline: string;
  /** A stable string identifying the run's settings within the pipeline (the engine derives it from them). */
  readonly key: string;
  readonly modelId: number;
  readonly datasetId: number;
  readonly settings: unknown;
  readonly codeVersion: string;
}

export interface OpenedRun {
  readonly id: number;
  /** 'done' when a previous invocation finished the run (nothing left to do); otherwise 'running'. */
  readonly status: RunStatus;
  /** True when the run already existed (its completed units are kept). */
  readonly resumed: boolean;
}

/** Where a component is: the coordinates shared by effects and detections. */
export interface ComponentCoords {
  /** e.g. 'a3.h2', 'resid_pre@L3', 'attn@L3', 'mlp@L3', 'a3.h2<q>' */
  readonly component: string;
  readonly layer: number;
  readonly head: number | null;
  /** Token position, or null when every position is patched together. */
  readonly position: number | null;
  /** Number of consecutive layers patched together (1 = a single layer). */
  readonly window: number;
}

export interface EffectRow extends ComponentCoords {
  /** Index of the prompt pair in its dataset. */
  readonly prompt: number;
  readonly value: number;
  /** 'head' | 'resid' | 'attn' | 'mlp' | 'head-q' ... */
  readonly kind: string;
}

export interface DetectionRow extends ComponentCoords {
  readonly mean: number;
  readonly std: number;
  readonly zscore: number;
  readonly sign: 1 | -1;
}

export interface MeanEffect extends ComponentCoords {
  readonly kind: string;
  readonly mean: number;
  /** Sample standard deviation over prompts (n - 1 in the denominator; 0 when n = 1). */
  readonly std: number;
  /** Number of prompts. */
  readonly n: number;
}

export interface RunSummary {
  readonly id: number;
  readonly pipeline: string;
  readonly key: string;
  readonly status: RunStatus;
  /** Model name. */
  readonly model: string;
  /** Dataset task. */
  readonly task: string;
  readonly settings: Json;
  /** Code version the run was created with (units record their own). */
  readonly codeVersion: string;
  /** ISO 8601 UTC times. */
  readonly createdAt: string;
  readonly finishedAt: string | null;
  /** Wall-clock seconds of the invocation that finished the run, from finishRun. */
  readonly seconds: number | null;
  /** Completed units. */
  readonly units: number;
  readonly detections: number;
}

export interface RunDetail extends RunSummary {
  readonly modelId: number;
  readonly modelFingerprint: string;
  readonly modelPath: string;
  readonly architecture: string;
  readonly datasetId: number;
  readonly datasetFingerprint: string;
  readonly datasetSettings: Json;
  /** Number of prompt pairs when the dataset's pairs are a JSON array. */
  readonly pairs: number | null;
  /** Times the run was opened without being done (1 = never resumed). */
  readonly attempts: number;
  readonly error: string | null;
  /** The `detail` given to finishRun. */
  readonly detail: Json | null;
  readonly updatedAt: string;
  /** Sum of the completed units' seconds, across all attempts. */
  readonly unitSeconds: number;
  /** Number of effect rows stored. */
  readonly effects: number;
  /** Distinct code versions that wrote the completed units, oldest first. */
  readonly unitCodeVersions: readonly string[];
}
