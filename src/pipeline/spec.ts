// The pipeline file format (YAML), its schema, and its expansion into a grid of settings. Every
// problem in a file is reported, one line each naming the file and field, before anything runs.
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { GRANULARITIES } from '../experiment/components.js';
import { METRICS } from '../experiment/metrics.js';
import { taskNames } from '../tasks/registry.js';

/** A value or a list of values (a grid axis); a single value is a list of one. */
const oneOrMany = <T extends z.ZodType>(t: T) => z.preprocess((v) => (v === undefined || Array.isArray(v) ? v : [v]), z.array(t).min(1));

const modelSchema = z.union([
  z.strictObject({ path: z.string().min(1) }),
  z.strictObject({ plant: z.literal('induction'), seed: z.number().int().default(0) }),
  z.strictObject({ init: z.string().min(1), seed: z.number().int().default(0) }),
]);

const patchingSchema = z.strictObject({
  corruption: oneOrMany(z.string().regex(/^(str|gn(:[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*)?|[a-z0-9-]+)$/, 'a corruption: str, gn, gn:ROLE,ROLE or a task STR variant')).default(['str']),
  gn: z
    .strictObject({
      multiplier: z.number().positive().default(3),
      samples: z.number().int().min(1).default(3),
      sigma: z.enum(['key-tokens', 'vocabulary']).default('key-tokens'),
      seed: z.number().int().default(0),
    })
    .default({ multiplier: 3, samples: 3, sigma: 'key-tokens', seed: 0 }),
  direction: oneOrMany(z.enum(['denoising', 'noising'])).default(['denoising']),
  metric: oneOrMany(z.enum(Object.keys(METRICS) as [string, ...string[]])).default(['logit-diff']),
  granularity: oneOrMany(z.enum(Object.keys(GRANULARITIES) as [string, ...string[]])).default(['heads']),
  window: oneOrMany(z.number().int().min(1)).default([1]),
  detect: z.strictObject({ k: z.number().positive().default(2) }).default({ k: 2 }),
  batch: z.number().int().min(1).default(32),
});

const discoverySchema = z.strictObject({
  /** acdc: edge-level ACDC; acdc-nodes: ACDC over whole heads and MLPs. */
  method: oneOrMany(z.enum(['acdc', 'acdc-nodes'])).default(['acdc']),
  corruption: oneOrMany(z.string().regex(/^(str|gn(:[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*)?|[a-z0-9-]+)$/, 'a corruption: str, gn, gn:ROLE,ROLE or a task STR variant')).default(['str']),
  direction: oneOrMany(z.enum(['denoising', 'noising'])).default(['noising']),
  metric: oneOrMany(z.enum(Object.keys(METRICS) as [string, ...string[]])).default(['kl']),
  /** ACDC thresholds tau, each one circuit. */
  thresholds: oneOrMany(z.number().nonnegative()).default([0.01]),
  /** Metric of the faithfulness score (default: logit-diff where the task has a wrong answer, else prob). */
  faithfulnessMetric: z.enum(Object.keys(METRICS) as [string, ...string[]]).optional(),
  /** Random circuits of the same size per threshold, for a baseline of faithfulness. */
  randomBaselines: z.number().int().min(0).default(0),
  /** Use only the first N prompt pairs of the task's dataset (ACDC's cost grows with them). */
  prompts: z.number().int().min(1).optional(),
  batch: z.number().int().min(1).default(64),
});

const pipelineSchema = z.strictObject({
  name: z.string().min(1).optional(),
  description: z.string().optional(),
  model: modelSchema,
  task: z.strictObject({
    name: z.enum(taskNames() as [string, ...string[]]),
    count: z.number().int().min(1).default(32),
    seed: z.number().int().default(0),
    options: z.record(z.string(), z.unknown()).optional(),
  }),
  patching: patchingSchema.optional(),
  discovery: discoverySchema.optional(),
});

export type ModelSpec = z.output<typeof modelSchema>;
export type PatchingSpec = z.output<typeof patchingSchema>;
export type DiscoverySpec = z.output<typeof discoverySchema>;

export interface Pipeline extends z.output<typeof pipelineSchema> {
  readonly name: string;
  /** The file it came from; relative paths in it resolve against its folder. */
  readonly file: string;
}

/** One point of the discovery grid: one ACDC sweep over the thresholds. */
export interface DiscoveryPoint {
  readonly method: 'acdc' | 'acdc-nodes';
  readonly corruption: string;
  readonly direction: 'denoising' | 'noising';
  readonly metric: string;
}

/** The discovery grid: method x corruption x direction x metric (thresholds are swept inside). */
export function expandDiscovery(p: Pipeline): DiscoveryPoint[] {
  const d = p.discovery;
  if (!d) return [];
  return d.method.flatMap((method) =>
    d.corruption.flatMap((corruption) => d.direction.flatMap((direction) => d.metric.map((metric) => ({ method, corruption, direction, metric })))),
  );
}

/** One point of the grid: everything that determines a set of runs except the metric. */
export interface GridPoint {
  readonly corruption: string;
  readonly direction: 'denoising' | 'noising';
  readonly granularity: string;
  readonly window: number;
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('') || '(top level)';
}

/** Parses and validates a pipeline file; throws one UserError listing every problem. */
export function loadPipeline(file: string): Pipeline {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read: ${(e as Error).message}`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new UserError(doc.errors.map((e) => `${file}: YAML: ${e.message.split('\n')[0]}`).join('\n'));
  }
  const parsed = pipelineSchema.safeParse(doc.toJS());
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${file}: ${issuePath(issue.path)}: ${issue.message}`);
    throw new UserError(problems.join('\n'));
  }
  const p = parsed.data;
  if (!p.patching && !p.discovery) problems.push(`${file}: (top level): a pipeline needs a patching or a discovery section (or both)`);
  if (p.patching) {
    const windowed = p.patching.granularity.filter((g) => GRANULARITIES[g]!.windowed);
    if (p.patching.window.some((w) => w > 1) && windowed.length === 0) {
      problems.push(`${file}: patching.window: windows larger than 1 need a windowed granularity (attn or mlp), got ${p.patching.granularity.join(', ')}`);
    }
  }
  if ('path' in p.model) {
    p.model.path = resolve(dirname(file), p.model.path);
  }
  if (problems.length > 0) throw new UserError(problems.join('\n'));
  return { ...p, name: p.name ?? basename(file, extname(file)), file };
}

/** The grid of settings: corruption x direction x granularity x window (windows only for windowed granularities). */
export function expandGrid(p: Pipeline): GridPoint[] {
  const out: GridPoint[] = [];
  if (!p.patching) return out;
  for (const corruption of p.patching.corruption) {
    for (const direction of p.patching.direction) {
      for (const granularity of p.patching.granularity) {
        const windows = GRANULARITIES[granularity]!.windowed ? p.patching.window : [1];
        for (const window of [...new Set(windows)]) out.push({ corruption, direction, granularity, window });
      }
    }
  }
  return out;
}
