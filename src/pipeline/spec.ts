// The pipeline file format (YAML), its schema, and its expansion into a grid of settings. User
// strings are parsed here, once: the loaded Pipeline holds parsed values (corruptions resolved
// against the task, the task's options parsed by its own schema, noise settings attached), and every
// problem in a file is reported, one line each naming the file and field, before anything runs.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import {
  type AblationCorruption,
  ATTRIBUTION_METHODS,
  isAttributionMethod,
  type Corruption,
  corruptionName,
  DEFAULT_NOISE,
  DIRECTIONS,
  type Direction,
  DISCOVERY_METHODS,
  type DiscoveryMethod,
  GRANULARITY_NAMES,
  type GranularityName,
  METRIC_NAMES,
  PATCHING_METHODS,
  type PatchingMethod,
  type MetricName,
  type NoiseSettings,
  noisingOnly,
  parseAblation,
  type PromptCorruption,
  SIGMA_SOURCES,
} from '../core/vocabulary.js';
import { formatZodIssues, strictObject } from '../core/zod-issues.js';
import { GRANULARITIES, type PositionChoice } from '../experiment/components.js';
import type { PathPosition } from '../methods/path-patching.js';
import { presetNames } from '../synthetic/presets.js';
import { DEFAULT_STR, parseCorruption } from '../tasks/pairs.js';
import { findTask, getTask, taskNames } from '../tasks/registry.js';
import type { Task } from '../tasks/types.js';

/** A grid axis: a value or a list of values (a single value is a list of one); `fallback` when absent. */
const axis = <T extends z.ZodType>(t: T, fallback: readonly z.input<T>[]) => z.preprocess((v) => (v === undefined ? fallback : Array.isArray(v) ? v : [v]), z.array(t).min(1));

const modelSchema = z.union([
  strictObject({ path: z.string().min(1) }),
  strictObject({ plant: z.literal('induction'), seed: z.number().int().default(0) }),
  strictObject({ init: z.enum(presetNames() as [string, ...string[]]), seed: z.number().int().default(0) }),
]);

/** Gaussian-noise settings of a section's `gn` corruptions (`sigma` in the file is `sigmaFrom` parsed). */
const noiseSchema = strictObject({
  multiplier: z.number().positive().default(DEFAULT_NOISE.multiplier),
  samples: z.number().int().min(1).default(DEFAULT_NOISE.samples),
  sigma: z.enum(SIGMA_SOURCES).default(DEFAULT_NOISE.sigmaFrom),
  seed: z.number().int().default(DEFAULT_NOISE.seed),
})
  .transform(({ sigma, ...rest }): NoiseSettings => ({ ...rest, sigmaFrom: sigma }))
  .default(DEFAULT_NOISE);

/**
 * A corruption name parsed for `task` (absent when the task name is itself wrong: that problem is
 * reported): an ablation (`zero`, `mean`, `resample[:SEED]`) or one of the task's corruptions.
 */
function corruptionSchema(task: Task<unknown> | undefined) {
  return z
    .string()
    .min(1)
    .transform((name, ctx): PromptCorruption | AblationCorruption => {
      let ablation: AblationCorruption | undefined;
      try {
        ablation = parseAblation(name);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
      if (ablation) return ablation;
      if (task === undefined) return { kind: 'str', variant: name };
      try {
        return parseCorruption(task, name);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        ctx.addIssue({ code: 'custom', message: e.message });
        return z.NEVER;
      }
    });
}

const withNoise = (c: PromptCorruption | AblationCorruption, noise: NoiseSettings): Corruption => (c.kind === 'gn' ? { ...c, noise } : c);

/** The prompts a corruption's dataset is built with: its own, or for an ablation the task's default STR prompts. */
export function datasetCorruption(p: Pick<Pipeline, 'task'>, c: Corruption): PromptCorruption {
  if (c.kind === 'str') return c;
  if (c.kind === 'gn') return c.roles === undefined ? { kind: 'gn' } : { kind: 'gn', roles: c.roles };
  return parseCorruption(getTask(p.task.name), DEFAULT_STR);
}

/** Zero and mean ablation with denoising (see vocabulary.ts noisingOnly): one line per corruption. */
function noisingOnlyProblems(file: string, section: string, corruptions: readonly Corruption[], directions: readonly Direction[]): string[] {
  if (!directions.includes('denoising')) return [];
  return corruptions
    .filter(noisingOnly)
    .map(
      (c) =>
        `${file}: ${section}.direction: ${corruptionName(c)} ablation is defined for noising only (its patch source is no run of any prompt, so there is no ablated run to denoise); use direction: noising`,
    );
}

/** A metric name the task's pairs support (where the task says which: tasks/types.ts Task.metrics). */
function metricSchema(task: Task<unknown> | undefined) {
  return z.enum(METRIC_NAMES).superRefine((metric, ctx) => {
    if (task?.metrics !== undefined && !task.metrics.includes(metric)) {
      ctx.addIssue({ code: 'custom', message: `task ${task.name} has no metric ${metric} (its metrics: ${task.metrics.join(', ')})` });
    }
  });
}

function patchingSchema(task: Task<unknown> | undefined) {
  return strictObject({
    corruption: axis(corruptionSchema(task), [DEFAULT_STR]),
    gn: noiseSchema,
    direction: axis(z.enum(DIRECTIONS), ['denoising']),
    metric: axis(metricSchema(task), ['logit-diff']),
    granularity: axis(z.enum(GRANULARITY_NAMES), ['heads']),
    window: axis(z.number().int().min(1), [1]),
    /** Per-position granularities: all positions, or one per prompt: last-key (its last key token) or a role's position (e.g. END). */
    positions: z
      .string()
      .min(1)
      .transform((v): PositionChoice => (v === 'all' || v === 'last-key' ? v : { role: v }))
      .default('all'),
    /** exact: patch each component; attribution: first-order estimates from gradients (AtP). */
    method: axis(z.enum(PATCHING_METHODS), ['exact']),
    detect: strictObject({ k: z.number().positive().default(2) }).default({ k: 2 }),
    batch: z.number().int().min(1).default(32),
  }).transform((s) => ({ ...s, corruption: s.corruption.map((c) => withNoise(c, s.gn)) }));
}

function discoverySchema(task: Task<unknown> | undefined) {
  return strictObject({
    /** acdc: edge-level ACDC; acdc-nodes: ACDC over whole heads and MLPs; eap, eap-ig-inputs, eap-ig-activations, clean-corrupted: edge attribution from gradients; exact: each edge patched alone. */
    method: axis(z.enum(DISCOVERY_METHODS), ['acdc']),
    corruption: axis(corruptionSchema(task), [DEFAULT_STR]),
    /** Settings of this section's `gn` corruptions (the patching section has its own). */
    gn: noiseSchema,
    direction: axis(z.enum(DIRECTIONS), ['noising']),
    metric: axis(metricSchema(task), ['kl']),
    /** ACDC thresholds tau, each one circuit; attribution methods (eap, ...) without `edges` cut |score| at them. */
    thresholds: axis(z.number().nonnegative(), [0.01]),
    /** Attribution methods: one circuit of the top N edges by |score| per entry (dangling edges then removed). */
    edges: z.preprocess((v) => (v === undefined || Array.isArray(v) ? v : [v]), z.array(z.number().int().min(1)).min(1).optional()),
    /** Attribution methods with `edges`: the top N edges (top-n) or EAP-IG's greedy selection from the logits (greedy). */
    selection: z.enum(['top-n', 'greedy']).default('top-n'),
    /** Attribution methods: rank and cut by the signed score (edges that help the metric first) instead of |score|. */
    signed: z.boolean().default(false),
    /** eap-ig-inputs, eap-ig-activations: interpolation steps between the corrupted and the clean input embeddings (node outputs). */
    steps: z.number().int().min(1).default(5),
    /** Metric of the faithfulness score (default: logit-diff where the task has a wrong answer, else prob). */
    faithfulnessMetric: metricSchema(task).optional(),
    /** Random circuits of the same size per threshold, for a baseline of faithfulness. */
    randomBaselines: z.number().int().min(0).default(0),
    /** MIB-style evaluation of every circuit's edge scores: faithfulness at 0.1 % .. 100 % of edges, CPR and CMD. */
    mib: z.boolean().default(false),
    /** acdc: run only over the `top` edges best attributed by `method` (|score|, dead ends dropped); the rest start pruned. */
    candidates: strictObject({ method: z.enum(ATTRIBUTION_METHODS), top: z.number().int().min(1) }).optional(),
    /** Use only the first N prompt pairs of the task's dataset (ACDC's cost grows with them). */
    prompts: z.number().int().min(1).optional(),
    batch: z.number().int().min(1).default(64),
  }).transform((s) => ({ ...s, corruption: s.corruption.map((c) => withNoise(c, s.gn)) }));
}

/** A receiver name as the component graph spells it: logits, mL, aL.hH<q|k|v> (checked against the model once it loads). */
const receiverName = z.string().regex(/^(logits|m\d+|a\d+\.h\d+<[qkv]>)$/, 'a receiver is logits, mL or aL.hH<q|k|v>');
const receiverList = z.array(receiverName).min(1);

/** One receiver set, its name its own or its members joined. */
export interface ReceiverSet {
  readonly name: string;
  readonly receivers: readonly string[];
}

/**
 * `receivers`: one set (a name or a list of names), several sets (a list of lists), or named sets
 * (a map of name to list); each set is one axis value of the sender x receiver-set heatmap.
 */
const receiverSetsSchema = z
  .preprocess(
    (v) => {
      // Every form becomes a list of { name?, receivers }, so one schema reports a bad name by its place.
      if (typeof v === 'string') return [{ receivers: [v] }];
      if (Array.isArray(v)) return v.every((x) => typeof x === 'string') ? [{ receivers: v }] : v.map((rs: unknown) => ({ receivers: rs }));
      if (typeof v === 'object' && v !== null) return Object.entries(v).map(([name, receivers]) => ({ name, receivers }));
      return v;
    },
    z.array(strictObject({ name: z.string().min(1).optional(), receivers: receiverList })).min(1),
  )
  .transform((sets): ReceiverSet[] => sets.map((s) => ({ name: s.name ?? s.receivers.join(','), receivers: s.receivers })));

/** all, an absolute token position, or a role of the task's pairs (e.g. END). */
const pathPositionSchema = z.union([
  z.literal('all'),
  z.number().int().min(0),
  z
    .string()
    .min(1)
    .transform((role): PathPosition => ({ role })),
]);

function pathPatchingSchema(task: Task<unknown> | undefined) {
  return strictObject({
    receivers: receiverSetsSchema,
    /** Senders to sweep (default: every sender feeding some receiver of the set). */
    senders: z.array(z.string().min(1)).min(1).optional(),
    corruption: axis(corruptionSchema(task), [DEFAULT_STR]),
    gn: noiseSchema,
    direction: axis(z.enum(DIRECTIONS), ['noising']),
    metric: axis(metricSchema(task), ['logit-diff']),
    position: pathPositionSchema.default('all'),
    batch: z.number().int().min(1).default(32),
  }).transform((s) => ({ ...s, corruption: s.corruption.map((c) => withNoise(c, s.gn)) }));
}

/** The schema of a pipeline whose task is `task` (undefined: the task name is wrong, and reported). */
function pipelineSchema(task: Task<unknown> | undefined) {
  // The task's own options schema, so a misspelt option fails here naming the valid ones.
  const options: z.ZodType<unknown> = task === undefined ? z.unknown().optional() : z.preprocess((v) => v ?? {}, task.optionsSchema);
  return strictObject({
    name: z.string().min(1).optional(),
    description: z.string().optional(),
    model: modelSchema,
    /**
     * The ground-truth circuit every circuit is scored against (precision, recall, ROC-AUC): our
     * JSON, EAP-IG graph JSON or a list of edge names; default: the model's own (ground-truth.json
     * beside a model path, or a planted model's).
     */
    groundTruth: z.string().min(1).optional(),
    task: strictObject({
      name: z.enum(taskNames() as [string, ...string[]]),
      count: z.number().int().min(1).default(32),
      seed: z.number().int().default(0),
      /** Parsed by the task (defaults filled in). */
      options,
    }),
    patching: patchingSchema(task).optional(),
    discovery: discoverySchema(task).optional(),
    pathPatching: pathPatchingSchema(task).optional(),
  });
}

type PipelineOutput = z.output<ReturnType<typeof pipelineSchema>>;

export type ModelSpec = z.output<typeof modelSchema>;
export type PatchingSpec = NonNullable<PipelineOutput['patching']>;
export type DiscoverySpec = NonNullable<PipelineOutput['discovery']>;
export type PathPatchingSpec = NonNullable<PipelineOutput['pathPatching']>;

export interface Pipeline extends PipelineOutput {
  readonly name: string;
  /** The file it came from; relative paths in it resolve against its folder. */
  readonly file: string;
}

/** One point of the discovery grid: one ACDC sweep over the thresholds. */
export interface DiscoveryPoint {
  readonly method: DiscoveryMethod;
  readonly corruption: Corruption;
  readonly direction: Direction;
  readonly metric: MetricName;
}

/** The discovery grid: method x corruption x direction x metric (thresholds are swept inside). */
export function expandDiscovery(p: Pipeline): DiscoveryPoint[] {
  const d = p.discovery;
  if (!d) return [];
  return d.method.flatMap((method) => d.corruption.flatMap((corruption) => d.direction.flatMap((direction) => d.metric.map((metric) => ({ method, corruption, direction, metric })))));
}

/** One point of the grid: everything that determines a set of runs except the metric. */
export interface GridPoint {
  readonly method: PatchingMethod;
  readonly corruption: Corruption;
  readonly direction: Direction;
  readonly granularity: GranularityName;
  readonly window: number;
}

/** A corruption listed twice after `str` is resolved (e.g. `[str, key-token]` for induction). */
function repeatedCorruptions(file: string, section: string, corruptions: readonly Corruption[]): string[] {
  const names = corruptions.map(corruptionName);
  const repeated = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
  return repeated.map((n) => `${file}: ${section}.corruption: ${n} is listed twice (str is the task's default STR variant)`);
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
  const raw: unknown = doc.toJS();
  const parsed = pipelineSchema(findTask(rawTaskName(raw))).safeParse(raw);
  if (!parsed.success) throw new UserError(formatZodIssues(file, parsed.error));
  const p = parsed.data;
  const problems: string[] = [];
  if (!p.patching && !p.discovery && !p.pathPatching) problems.push(`${file}: (top level): a pipeline needs a patching, discovery or pathPatching section`);
  if (p.patching) {
    const windowed = p.patching.granularity.filter((g) => GRANULARITIES[g].windowed);
    if (p.patching.window.some((w) => w > 1) && windowed.length === 0) {
      problems.push(`${file}: patching.window: windows larger than 1 need a windowed granularity (attn, mlp, attn-layer or mlp-layer), got ${p.patching.granularity.join(', ')}`);
    }
    const positional = p.patching.granularity.filter((g) => !GRANULARITIES[g].perPosition);
    if (p.patching.positions !== 'all' && positional.length > 0) {
      const name = typeof p.patching.positions === 'string' ? p.patching.positions : p.patching.positions.role;
      problems.push(
        `${file}: patching.positions: ${name} picks one position per prompt, which only per-position granularities (heads-pos, attn, mlp, resid) have; ${positional.join(', ')} patch all positions at once`,
      );
    }
    if (p.patching.positions !== 'all' && p.patching.method.includes('attribution')) {
      problems.push(`${file}: patching.positions: one position per prompt is for exact patching; method attribution estimates every position (use positions: all, or method: exact)`);
    }
    problems.push(...repeatedCorruptions(file, 'patching', p.patching.corruption));
    problems.push(...noisingOnlyProblems(file, 'patching', p.patching.corruption, p.patching.direction));
  }
  if (p.discovery) {
    problems.push(...repeatedCorruptions(file, 'discovery', p.discovery.corruption));
    problems.push(...noisingOnlyProblems(file, 'discovery', p.discovery.corruption, p.discovery.direction));
    if (p.discovery.selection === 'greedy' && p.discovery.edges === undefined) {
      problems.push(`${file}: discovery.selection: greedy selects a number of edges: give discovery.edges`);
    }
    if (p.discovery.candidates && !p.discovery.method.includes('acdc')) {
      problems.push(`${file}: discovery.candidates: seeds edge-level ACDC, but method is ${p.discovery.method.join(', ')} (add acdc)`);
    }
    if (p.discovery.edges && !p.discovery.method.some(isAttributionMethod)) {
      problems.push(`${file}: discovery.edges: only attribution methods (${ATTRIBUTION_METHODS.join(', ')}) cut circuits by edge count, got method ${p.discovery.method.join(', ')}`);
    }
  }
  if (p.pathPatching) {
    problems.push(...repeatedCorruptions(file, 'pathPatching', p.pathPatching.corruption));
    const names = p.pathPatching.receivers.map((r) => r.name);
    for (const n of new Set(names.filter((n, i) => names.indexOf(n) !== i))) problems.push(`${file}: pathPatching.receivers: the set ${n} is listed twice`);
  }
  if ('path' in p.model) {
    p.model.path = resolve(dirname(file), p.model.path);
    if (!existsSync(p.model.path)) problems.push(`${file}: model.path: no such file or folder ${p.model.path}`);
  }
  for (const section of ['patching', 'discovery'] as const) {
    p[section]?.corruption.forEach((c, i) => {
      if (c.kind === 'mean' && c.reference !== undefined && !existsSync(resolve(dirname(file), c.reference))) {
        problems.push(`${file}: ${section}.corruption[${i}]: no such file of reference prompts ${resolve(dirname(file), c.reference)}`);
      }
    });
  }
  if (p.groundTruth !== undefined) {
    p.groundTruth = resolve(dirname(file), p.groundTruth);
    if (!existsSync(p.groundTruth)) problems.push(`${file}: groundTruth: no such file ${p.groundTruth}`);
  }
  if (problems.length > 0) throw new UserError(problems.join('\n'));
  return { ...p, name: p.name ?? basename(file, extname(file)), file };
}

/** `task.name` of a raw document, when it is a string. */
function rawTaskName(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const task = (raw as { task?: unknown }).task;
  if (typeof task !== 'object' || task === null) return undefined;
  const name = (task as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

/** The grid of settings: method x corruption x direction x granularity x window (windows only for windowed granularities). */
export function expandGrid(p: Pipeline): GridPoint[] {
  const out: GridPoint[] = [];
  if (!p.patching) return out;
  for (const method of [...new Set(p.patching.method)]) {
    for (const corruption of p.patching.corruption) {
      for (const direction of p.patching.direction) {
        for (const granularity of p.patching.granularity) {
          const windows = GRANULARITIES[granularity].windowed ? p.patching.window : [1];
          for (const window of [...new Set(windows)]) out.push({ method, corruption, direction, granularity, window });
        }
      }
    }
  }
  return out;
}
