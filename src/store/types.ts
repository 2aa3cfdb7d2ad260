// The rows the store reads and writes, as the rest of patchwise sees them.
import type { Circuit } from '../circuits/circuit.js';
import type { ComponentCoords, CurvePoint } from '../core/vocabulary.js';
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

export interface EffectRow extends ComponentCoords {
  /** Index of the prompt pair in its dataset. */
  readonly prompt: number;
  readonly value: number;
  /** 'head' | 'resid' | 'attn' | 'mlp' | 'head-q' ... */
  readonly kind: string;
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

/** A circuit to save: (pipeline, key) names it; saving the same name again replaces it. */
export interface SaveCircuitRequest {
  readonly pipeline: string;
  readonly key: string;
  /** The run that produced it, when there is one (deleting the run deletes the circuit). */
  readonly runId?: number | null;
  readonly circuit: Circuit;
  /** What produced it (algorithm settings, dataset, ...); stored as canonical JSON. */
  readonly settings: unknown;
}

export interface CircuitSummary {
  readonly id: number;
  readonly runId: number | null;
  readonly pipeline: string;
  readonly key: string;
  readonly method: string;
  readonly metric: string | null;
  readonly corruption: string | null;
  readonly direction: string | null;
  readonly threshold: number | null;
  /** In-circuit edges. */
  readonly size: number;
  /** Edges with a score. */
  readonly nScored: number;
  readonly faithfulness: number | null;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly modelFingerprint: string | null;
  readonly modelName: string | null;
  readonly settings: Json;
  /** ISO 8601 UTC time of the latest save under this name. */
  readonly createdAt: string;
}

export interface CircuitFilter {
  readonly pipeline?: string;
  readonly runId?: number;
  readonly method?: string;
  readonly modelFingerprint?: string;
}

export interface CurveRequest {
  readonly pipeline: string;
  readonly key: string;
  /** 'faithfulness', 'roc', ... */
  readonly kind: string;
  readonly runId?: number | null;
  readonly circuitId?: number | null;
  /** In the order to draw them; saving replaces the curve's previous points. */
  readonly points: readonly CurvePoint[];
}

export interface CurveRecord {
  readonly pipeline: string;
  readonly key: string;
  readonly kind: string;
  readonly runId: number | null;
  readonly circuitId: number | null;
  readonly points: readonly Required<CurvePoint>[];
}

export interface CurveFilter {
  readonly pipeline?: string;
  readonly key?: string;
  readonly kind?: string;
  readonly runId?: number;
  readonly circuitId?: number;
}

/** A model row, looked up by fingerprint. */
export interface StoredModel {
  readonly id: number;
  readonly fingerprint: string;
  readonly name: string;
  readonly path: string;
  readonly architecture: string;
  readonly config: Json;
}
