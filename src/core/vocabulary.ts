// The vocabulary every layer of patchwise shares, defined once: user strings are parsed into these
// values at the boundary (the pipeline schema, the CLI) and everything below receives parsed values.

/** Denoising runs the corrupted prompt with clean patches (sufficiency); noising the reverse (necessity). */
export const DIRECTIONS = ['denoising', 'noising'] as const;
export type Direction = (typeof DIRECTIONS)[number];

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

/**
 * How the corrupted run is made, parsed once:
 * - `str`: symmetric token replacement; `variant` is one of the task's STR schemes (resolved: never `str`);
 * - `gn`: Gaussian noise on the embeddings of the key tokens (`roles`: which; the task's default when absent).
 */
export type Corruption =
  | { readonly kind: 'str'; readonly variant: string }
  | { readonly kind: 'gn'; readonly roles?: readonly string[]; readonly noise: NoiseSettings };

/** The name a corruption is written as in pipelines and stored settings: `key-token`, `gn`, `gn:IO,S1`. */
export function corruptionName(c: Corruption): string {
  if (c.kind === 'str') return c.variant;
  return c.roles && c.roles.length > 0 ? `gn:${c.roles.join(',')}` : 'gn';
}

/** Rows per prompt pair in a run: one, or one per noise sample. */
export function samplesPerPair(c: Corruption): number {
  return c.kind === 'gn' ? c.noise.samples : 1;
}
