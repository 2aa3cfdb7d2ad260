// What a finished run records about itself beyond its effects (the runs.detail column), one schema
// per stage kind. Written and read only through these schemas, so a reader gets a typed value (or
// a clear error naming the run) and never casts stored JSON.
import { z } from 'zod';
import { issueLines } from '../core/zod-issues.js';

const baselines = z.object({
  /** Mean metric on the clean and corrupted prompts, before any patch. */
  clean: z.number(),
  corrupted: z.number(),
  /** The denominator of the normalised metric (logit difference: the mean clean-corrupted gap). */
  normaliser: z.number(),
});

const names = z.array(z.string()).readonly();

const groundTruth = z.object({
  nodes: names.optional(),
  edges: names,
  positionalEdges: names.optional(),
});

/** A patching run (one metric of one grid point). */
export const PatchingRunDetailSchema = z.object({
  stage: z.literal('patching'),
  baselines,
  /** Gaussian noise's standard deviation; null for token replacement. */
  sigma: z.number().nullable(),
  /** Units of work the run was split into. */
  units: z.number().int().nonnegative(),
  /** The planted model's circuit, where the model has one. */
  groundTruth: groundTruth.nullable(),
});

/** One threshold of a discovery run: the circuit it stored and how good it is. */
export const DiscoveredCircuitSchema = z.object({
  /** ACDC's tau, or an attribution's |score| cut (for a top-n cut: the n-th largest |score|). */
  tau: z.number(),
  /** The edge count of an attribution's top-n cut. */
  topN: z.number().int().optional(),
  circuitId: z.number().int().positive(),
  size: z.number().int().nonnegative(),
  faithfulness: z.number(),
  /** Mean faithfulness of random circuits of the same size. */
  randomFaithfulness: z.number().optional(),
  /** Against the ground truth, where one is known: precision and recall of the edges, ROC-AUC of the edge scores (null: undefined). */
  truth: z.object({ precision: z.number().nullable(), recall: z.number().nullable(), auc: z.number().nullable() }).optional(),
  /** MIB's circuit performance ratio and circuit-model difference of the circuit's edge scores (discovery.mib). */
  cpr: z.number().optional(),
  cmd: z.number().optional(),
});

/** A discovery run (one method x corruption x direction x metric, swept over thresholds). */
export const DiscoveryRunDetailSchema = z.object({
  stage: z.literal('discovery'),
  circuits: z.array(DiscoveredCircuitSchema).readonly(),
  /** ROC-AUC of the sweep against the ground truth; null where none is known. */
  auc: z.number().nullable(),
});

/** A path-patching run (one metric of one sender-set -> receiver-set sweep). */
export const PathPatchingRunDetailSchema = z.object({
  stage: z.literal('path-patching'),
  /** The denominator of the normalised metric (1 for metrics that are not normalised). */
  normaliser: z.number(),
  /** Mean metric score of the unpatched base run. */
  baseScore: z.number(),
  units: z.number().int().nonnegative(),
});

export const StageDetailSchema = z.discriminatedUnion('stage', [PatchingRunDetailSchema, DiscoveryRunDetailSchema, PathPatchingRunDetailSchema]);

export type PatchingRunDetail = z.infer<typeof PatchingRunDetailSchema>;
export type DiscoveredCircuitDetail = z.infer<typeof DiscoveredCircuitSchema>;
export type DiscoveryRunDetail = z.infer<typeof DiscoveryRunDetailSchema>;
export type PathPatchingRunDetail = z.infer<typeof PathPatchingRunDetailSchema>;
export type StageDetail = z.infer<typeof StageDetailSchema>;

/** The one-line reason a detail does not fit its schema: the first problem, where it is, and how many more. */
export function detailProblem(error: z.ZodError): string {
  const lines = issueLines(error);
  const first = lines[0];
  if (first === undefined) return 'invalid';
  const more = lines.length > 1 ? ` (and ${lines.length - 1} more problems)` : '';
  return `${first[0]}: ${first[1]}${more}`;
}

/**
 * Details stored before they carried their stage have none; the stage is implied by their fields
 * (discovery details list circuits, patching details have baselines).
 */
export function withStage(stored: unknown): unknown {
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored) || 'stage' in stored) return stored;
  if ('circuits' in stored) return { stage: 'discovery', ...stored };
  if ('baselines' in stored) return { stage: 'patching', ...stored };
  return stored;
}
