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
export const GRANULARITY_NAMES = ['heads', 'heads-pos', 'attn', 'mlp', 'attn-layer', 'mlp-layer', 'resid', 'head-qkv'] as const;
export type GranularityName = (typeof GRANULARITY_NAMES)[number];

/**
 * The methods that produce results: node-level activation patching, path patching, and ACDC over
 * edges (`acdc`) or over whole heads and MLPs (`acdc-nodes`). Stored and filtered by these names.
 */
export const METHOD_NAMES = ['node-patching', 'node-attribution', 'path-patching', 'acdc', 'acdc-nodes', 'eap', 'eap-ig-inputs', 'eap-ig-activations', 'clean-corrupted', 'exact'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

/**
 * Edge scoring methods, named as EAP-IG names them: from gradients, `eap` (at the base run),
 * `eap-ig-inputs` (averaged over input embeddings interpolated between the runs),
 * `eap-ig-activations` (averaged over each node's output interpolated in turn) and
 * `clean-corrupted` (averaged over the two runs), defined in src/gradients/edge-attribution.ts;
 * and `exact`, the true effect of patching each edge alone (src/methods/exact-edges.ts).
 */
export const ATTRIBUTION_METHODS = ['eap', 'eap-ig-inputs', 'eap-ig-activations', 'clean-corrupted', 'exact'] as const satisfies readonly MethodName[];
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

/**
 * Ablations: the patch source of every sender s is not a corrupted prompt's run but
 * src_s = 0 (`zero`), the mean of s's output at each position over a reference set of prompts
 * (`mean`: the dataset's corrupted prompts), or s's output on another prompt of the same length
 * (`resample`: a seeded derangement of the dataset's clean prompts within each length). Their
 * prompts are the task's default STR dataset.
 */
export const ABLATION_KINDS = ['zero', 'mean', 'resample'] as const;
export type AblationKind = (typeof ABLATION_KINDS)[number];

export const isAblationKind = (value: unknown): value is AblationKind => (ABLATION_KINDS as readonly unknown[]).includes(value);

export interface ZeroAblation {
  readonly kind: 'zero';
}

export interface MeanAblation {
  readonly kind: 'mean';
  /**
   * A file of reference prompts (`mean:FILE`, relative to the pipeline): text, one prompt a line,
   * or a JSON list of token-id lists. Absent: the dataset's corrupted prompts.
   */
  readonly reference?: string;
}

export interface ResampleAblation {
  readonly kind: 'resample';
  /** Seeds the permutation that picks each prompt's partner (`resample:SEED`; default 0). */
  readonly seed: number;
}

export type AblationCorruption = ZeroAblation | MeanAblation | ResampleAblation;

/** How the corrupted run (the patch source) is made, parsed once (pipelines write `key-token`, `str`, `gn`, `gn:IO,S1`, `zero`, `mean`, `resample`, `resample:7`). */
export type Corruption = StrCorruption | GnCorruption | AblationCorruption;

/** What a task needs of a corruption to build its prompts: everything but the noise itself. */
export type PromptCorruption = StrCorruption | Omit<GnCorruption, 'noise'>;

export const isAblation = (c: { readonly kind: string }): c is AblationCorruption => isAblationKind(c.kind);

/**
 * Ablations whose source is no forward pass of any prompt (`zero`, `mean`): only noising is
 * defined for them (patch the clean run with ablated values). Denoising would start from a run
 * where every sender is ablated, which is not a forward of any input; it is rejected at load.
 * `resample` is a real run of another prompt, so both directions are meaningful.
 */
export const noisingOnly = (c: Corruption): boolean => c.kind === 'zero' || c.kind === 'mean';

/** The name a corruption is written as in pipelines and stored settings: `key-token`, `gn`, `gn:IO,S1`, `zero`, `resample:3`. */
export function corruptionName(c: PromptCorruption | AblationCorruption): string {
  if (c.kind === 'str') return c.variant;
  if (c.kind === 'mean') return c.reference === undefined ? 'mean' : `mean:${c.reference}`;
  if (c.kind === 'zero') return c.kind;
  if (c.kind === 'resample') return c.seed === 0 ? 'resample' : `resample:${c.seed}`;
  return c.roles && c.roles.length > 0 ? `gn:${c.roles.join(',')}` : 'gn';
}

/**
 * Parses an ablation name (`zero`, `mean`, `mean:FILE`, `resample`, `resample:SEED`); undefined when `name` is
 * no ablation; throws a plain Error naming the problem when it is a malformed one.
 */
export function parseAblation(name: string): AblationCorruption | undefined {
  if (name === 'zero' || name === 'mean') return { kind: name };
  if (name.startsWith('mean:')) {
    const reference = name.slice('mean:'.length);
    if (reference === '') throw new Error(`corruption ${JSON.stringify(name)}: name the file of reference prompts after "mean:"`);
    return { kind: 'mean', reference };
  }
  if (name === 'resample') return { kind: 'resample', seed: 0 };
  if (name.startsWith('resample:')) {
    const seed = name.slice('resample:'.length);
    if (!/^-?\d+$/.test(seed)) throw new Error(`corruption ${JSON.stringify(name)}: the resample seed must be an integer`);
    return { kind: 'resample', seed: Number(seed) };
  }
  if (name.startsWith('zero:')) throw new Error(`corruption ${JSON.stringify(name)}: zero takes no argument`);
  return undefined;
}

/** The prompts a corruption needs the task to build: its own, or (ablations) the task's default STR dataset (undefined). */
export function promptCorruption(c: Corruption): PromptCorruption | undefined {
  if (c.kind === 'str') return c;
  if (c.kind === 'gn') return c.roles === undefined ? { kind: 'gn' } : { kind: 'gn', roles: c.roles };
  return undefined;
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
  /**
   * Token position, or null when every position is patched together, or when each prompt is patched
   * at its own position, named in the component (`mlp.L3-7@last-key`).
   */
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
  /**
   * Per ablation, the edges it can see where that differs from `edges`: an ablation that removes
   * position information (zero) also sees edges that carry only position. Absent: `edges`.
   */
  readonly ablationEdges?: Readonly<Partial<Record<AblationKind, readonly string[]>>>;
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
