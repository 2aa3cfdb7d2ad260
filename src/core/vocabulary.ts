// The vocabulary every layer of patchwise shares, defined once: user strings are parsed into these
// values at the boundary (the pipeline schema, the CLI) and everything below receives parsed values.
// Pure types and constants only (no node imports): the browser viewer imports it too.

/** Denoising runs the corrupted prompt with clean patches (sufficiency); noising the reverse (necessity). */
export const DIRECTIONS = ['denoising', 'noising'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const isDirection = (value: unknown): value is Direction => (DIRECTIONS as readonly unknown[]).includes(value);

/** Metrics of the next-token distribution (src/experiment/metrics.ts implements each). */
export const METRIC_NAMES = ['prob', 'logit-diff', 'kl', 'prob-diff'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** Granularities of node-level patching: what one patch target is (src/experiment/components.ts). */
export const GRANULARITY_NAMES = ['heads', 'heads-pos', 'attn', 'mlp', 'resid', 'head-qkv'] as const;
export type GranularityName = (typeof GRANULARITY_NAMES)[number];

/**
 * The methods that produce results: node-level activation patching, path patching, and ACDC over
 * edges (`acdc`) or over whole heads and MLPs (`acdc-nodes`). Stored and filtered by these names.
 */
export const METHOD_NAMES = ['node-patching', 'node-attribution', 'path-patching', 'acdc', 'acdc-nodes', 'eap', 'eap-ig-inputs', 'clean-corrupted', 'exact'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

/**
 * Edge scoring methods, named as EAP-IG names them: from gradients, `eap` (at the base run),
 * `eap-ig-inputs` (averaged over input embeddings interpolated between the runs) and
 * `clean-corrupted` (averaged over the two runs), defined in src/gradients/edge-attribution.ts;
 * and `exact`, the true effect of patching each edge alone (src/methods/exact-edges.ts).
 */
export const ATTRIBUTION_METHODS = ['eap', 'eap-ig-inputs', 'clean-corrupted', 'exact'] as const satisfies readonly MethodName[];
export type AttributionMethod = (typeof ATTRIBUTION_METHODS)[number];

export const isAttributionMethod = (value: unknown): value is AttributionMethod => (ATTRIBUTION_METHODS as readonly unknown[]).includes(value);

/** How the patching stage computes node effects: by patching (`exact`) or to first order from gradients (`attribution`, AtP). */
export const PATCHING_METHODS = ['exact', 'attribution'] as const;
export type PatchingMethod = (typeof PATCHING_METHODS)[number];

/** The methods a pipeline's discovery stage can run. */
export const DISCOVERY_METHODS = ['acdc', 'acdc-nodes', ...ATTRIBUTION_METHODS] as const satisfies readonly MethodName[];
export type DiscoveryMethod = (typeof DISCOVERY_METHODS)[number];

/** Where the standard deviation of Gaussian noise comes from. */
export const SIGMA_SOURCES = ['key-tokens', 'vocabulary'] as const;
export type SigmaSource = (typeof SIGMA_SOURCES)[number];

/** Gaussian-noise settings (Zhang & Nanda: multiplier 3, noise std = multiplier * sigma). */
export interface NoiseSettings {
  readonly multiplier: number;
  /** Noise samples per prompt; effects are averaged over them. */
  readonly samples: number;
  readonly seed: number;
  readonly sigmaFrom: SigmaSource;
}

export const DEFAULT_NOISE: NoiseSettings = { multiplier: 3, samples: 3, seed: 0, sigmaFrom: 'key-tokens' };

/** Symmetric token replacement: `variant` is one of the task's STR schemes (resolved: never `str`). */
export interface StrCorruption {
  readonly kind: 'str';
  readonly variant: string;
}

/** Gaussian noise on the embeddings of the key tokens; `roles`: which (the task's default when absent). */
export interface GnCorruption {
  readonly kind: 'gn';
  readonly roles?: readonly string[];
  readonly noise: NoiseSettings;
}

/** How the corrupted run is made, parsed once (pipelines write `key-token`, `str`, `gn`, `gn:IO,S1`). */
export type Corruption = StrCorruption | GnCorruption;

/** What a task needs of a corruption to build its prompts: everything but the noise itself. */
export type PromptCorruption = StrCorruption | Omit<GnCorruption, 'noise'>;

/** The name a corruption is written as in pipelines and stored settings: `key-token`, `gn`, `gn:IO,S1`. */
export function corruptionName(c: PromptCorruption): string {
  if (c.kind === 'str') return c.variant;
  return c.roles && c.roles.length > 0 ? `gn:${c.roles.join(',')}` : 'gn';
}

/** Rows per prompt pair in a run: one, or one per noise sample. */
export function samplesPerPair(c: Corruption): number {
  return c.kind === 'gn' ? c.noise.samples : 1;
}

/** Where a component is: the coordinates shared by effects and detections. */
export interface ComponentCoords {
  /** e.g. 'a3.h2', 'resid_pre.L3@5', 'attn.L3', 'm3', 'a3.h2<q>' */
  readonly component: string;
  readonly layer: number;
  readonly head: number | null;
  /** Token position, or null when every position is patched together. */
  readonly position: number | null;
  /** Number of consecutive layers patched together (1 = a single layer). */
  readonly window: number;
}

/** A component's mean patching effect over the dataset and its spread. */
export interface ComponentEffect extends ComponentCoords {
  readonly mean: number;
  readonly std: number;
}

/** A detected component: its effect lies more than k SD from the mean; the sign is kept. */
export interface Detection extends ComponentEffect {
  readonly zscore: number;
  readonly sign: 1 | -1;
}

/** The known circuit of a model (the planted one), by ComponentGraph names. */
export interface GroundTruth {
  /** Nodes of the circuit (`a0.h3`), where known. */
  readonly nodes?: readonly string[];
  /** Edges that carry token information (`a0.h3->a1.h7<k>`): what token-replacement patching can find. */
  readonly edges: readonly string[];
  /**
   * Edges the mechanism also uses that carry only position information: invisible to activation
   * patching by construction, so ROC counts them neither positive nor negative.
   */
  readonly positionalEdges?: readonly string[];
}

/** One point of a curve (faithfulness vs size over thresholds, or ROC); fields a kind does not use are null. */
export interface CurvePoint {
  /** The cut (|score| threshold, or ACDC's tau); null for top-n cuts. */
  readonly threshold: number | null;
  /** In-circuit edges at this cut. */
  readonly size: number | null;
  readonly faithfulness: number | null;
  /** ROC: true and false positive rates against a ground-truth circuit. */
  readonly tpr?: number | null;
  readonly fpr?: number | null;
}
