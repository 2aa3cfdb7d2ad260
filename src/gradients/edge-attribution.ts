// Edge attribution scores from gradients (Syed et al. 2023, "Attribution Patching Outperforms
// Automated Circuit Discovery"; Hanna et al. 2024, "Have Faith in Faithfulness", whose names the
// schemes use). For an edge s -> r, with base run b (noising: the clean prompt; denoising: the
// corrupted one) and source run c (the other):
//
//   score(s -> r) = sum_t (c_s[t] - b_s[t]) . mean_{x in points} d m / d input_r[t] (x)
//
// averaged over the dataset's rows. Sign convention: the score is the first-order change of the
// metric's score (higher = closer to clean behaviour) when the edge alone carries the source run's
// value, i.e. d m / d M[s, r] of the patching mask at M = 0 for 'eap'. Noising scores of edges the
// clean behaviour needs are thus negative; circuits rank edges by |score|. The points x are input
// embeddings (the `input` sender) between the source c and the base b:
//
// - 'eap': the base run only;
// - 'eap-ig-inputs': c + (k / steps)(b - c), k = 1..steps (EAP-IG's Riemann sum, which ends at the
//   base run and never evaluates the source run itself);
// - 'eap-ig-activations': one node at a time (the input, then per layer its attention, all heads
//   together, and its MLP) has its output replaced by c_n + (k / steps)(b_n - c_n), k = 1..steps,
//   the rest of the run at the base input; the replaced output is a constant, so no gradient flows
//   back through it (EAP-IG's output-interpolation hooks). The mean is over every node and step;
// - 'clean-corrupted': the base and the source run.
//
// Sender values c_s, b_s are those of the unpatched runs at c and b (not at the point x), as EAP-IG
// computes them.
import type { AttributionMethod, Direction } from '../core/vocabulary.js';
import { CleanRow, type Metric, rowBlock } from '../experiment/metrics.js';
import type { ModelConfig, ModelWeights } from '../model/types.js';
import { ComponentGraph } from '../graph/component-graph.js';
import type { SenderCache } from '../runtime/cache.js';
import { inputSender, type RunInput } from '../runtime/inputs.js';
import { SenderRows } from '../runtime/sender-rows.js';
import { f32, floats, type Feeds, SessionPool } from '../runtime/sessions.js';
import type { PromptPair } from '../tasks/types.js';
import { type BuiltAttributionGraph, buildAttributionGraph, buildSendersGraph, type ScoreLayout } from './attribution-graph.js';
import { writeGradientTerms } from './metric-gradients.js';

export type { ScoreLayout } from './attribution-graph.js';

/** The scheme is the method's name (src/core/vocabulary.ts); `exact` uses no gradient. */
export type AttributionScheme = Exclude<AttributionMethod, 'exact'>;

/** One batch of rows of equal length (Experiment's RowGroup has these fields). */
export interface AttributionGroup {
  readonly rows: readonly { readonly pair: PromptPair }[];
  readonly seqLen: number;
  readonly cleanInput: RunInput;
  readonly corruptedInput: RunInput;
  /** Each row's metric target positions. */
  readonly positions: readonly (readonly number[])[];
  /** Where each row's targets start among the group's (metrics.ts targetOffsets; last: the total). */
  readonly offsets: readonly number[];
}

/** A group's clean and corrupted runs as a cache holds them (Experiment's GroupRuns has these fields). */
export interface AttributionRuns {
  /** Logits at the targets, row after row, and the run's cache. */
  readonly clean: { readonly logits: Float32Array; readonly cache: SenderCache };
  /** The patch source of noising: the corrupted run (or an ablation's source values). */
  readonly corrupted: { readonly cache: SenderCache };
  readonly cleanRows: readonly CleanRow[];
}

/** A group's runs as attribution reads them: every sender's output [S, B, T, d] of each. */
interface SenderStacks {
  readonly clean: Float32Array;
  readonly corrupted: Float32Array;
  readonly cleanRows: readonly CleanRow[];
}

/** What attribution reads of an experiment (Experiment has it): the model and the batched rows. */
export interface AttributionData {
  readonly model: { readonly config: ModelConfig; readonly weights: ModelWeights };
  readonly groups: readonly AttributionGroup[];
  /** The group's runs when the caller keeps them (an Experiment does); else the senders graph makes them. */
  runsOf?(g: AttributionGroup): Promise<AttributionRuns>;
}

export interface AttributionOptions {
  readonly scheme: AttributionScheme;
  readonly metric: Metric;
  /** Default 'noising' (the base run is the clean prompt). */
  readonly direction?: Direction;
  /** Interpolation steps of 'eap-ig-inputs'; default 5. */
  readonly steps?: number;
}

/** Weights alpha of the base run in each point c + alpha (b - c). */
export function attributionPoints(scheme: AttributionScheme, steps = 5): number[] {
  if (scheme === 'eap') return [1];
  if (scheme === 'clean-corrupted') return [1, 0];
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`${scheme} needs a whole number of steps >= 1, got ${steps}`);
  return Array.from({ length: steps }, (_, k) => (k + 1) / steps);
}

/**
 * One point the gradients are taken at: the input sender [B, T, d] and, for eap-ig-activations, one
 * node's output replaced (a layer's attention, all heads summed, or its MLP; [B, T, d]).
 */
export interface AttributionPoint {
  readonly input: Float32Array;
  readonly override?: { readonly node: 'attn' | 'mlp'; readonly layer: number; readonly value: Float32Array };
}

/** d score / d logits in the graph's terms (metric-gradients.ts writeGradientTerms), [N, V] and [N, 1]. */
export interface GradientTerms {
  readonly add: Float32Array;
  readonly weights: Float32Array;
  readonly self: Float32Array;
}

/** Senders and attribution sessions of one model, one graph per batch shape and layout. */
export class GradientModel {
  private readonly pool: SessionPool;
  /** Full-width sender outputs of a cache (it keeps heads as z). */
  readonly senderRows: SenderRows;
  private readonly graphs = new Map<string, BuiltAttributionGraph>();
  private readonly zeroFeeds = new Map<string, Feeds>();

  /**
   * Interpolation points run together (one contraction for all) while points x B x T stays within
   * this many token rows: a run's memory grows with them.
   */
  readonly maxPointTokens: number;

  constructor(
    readonly config: ModelConfig,
    readonly weights: ModelWeights,
    opts: { readonly pool?: SessionPool; readonly maxPointTokens?: number } = {},
  ) {
    this.pool = opts.pool ?? new SessionPool({ memoryPattern: false });
    this.senderRows = new SenderRows(this.pool, config, weights, ComponentGraph.forModel(config));
    // The widest tensor of a run is a layer's head-receiver gradients, 3 H x tokens x d: 4,096 token
    // rows on GPT-2 small (about 450 MB), scaled down for wider models to keep that size.
    this.maxPointTokens = opts.maxPointTokens ?? Math.max(1, Math.floor((4096 * 12 * 768) / (config.nHeads * config.dModel)));
  }

  private graph(key: string, build: () => BuiltAttributionGraph): { built: () => BuiltAttributionGraph['graph']; zeros: Feeds } {
    let g = this.graphs.get(key);
    if (!g) {
      g = build();
      this.graphs.set(key, g);
      const zeros: Feeds = {};
      for (const z of g.zeros) zeros[z.name] = f32(new Float32Array(z.shape.reduce((a, b) => a * b, 1)), z.shape);
      this.zeroFeeds.set(key, zeros);
    }
    const built = g.graph;
    return { built: () => built, zeros: this.zeroFeeds.get(key)! };
  }

  /** Logits [N, V] at the rows' metric targets (row after row) and sender outputs [S, B, T, d] of the run at `input` ([B, T, d]). */
  async senders(input: Float32Array, B: number, T: number, positions: readonly (readonly number[])[]): Promise<{ logits: Float32Array; senders: Float32Array }> {
    const p = pick(positions, T);
    const N = p.dims[0]!;
    const key = `attr-senders:${B}x${T}x${N}`;
    const g = this.graph(key, () => buildSendersGraph(this.config, this.weights, B, T, N));
    const out = await this.pool.run(key, g.built, { ...g.zeros, input: f32(input, [B, T, this.config.dModel]), pick: p });
    return { logits: floats(out.logits, 'logits'), senders: floats(out.senders, 'senders') };
  }

  /**
   * Edge scores averaged over the points (each [B, T, d], the input sender): entry (s, r) =
   * mean over points of sum_t (source - base)[s, b, t] . d score_b / d input_r[b, t], the score's
   * gradient given by `terms`; summed over rows [S, R], per row [B, S, R] or per row and position
   * [B, T, S, R]. Points run stacked along the batch, as many at a time as `maxPointTokens` allows.
   */
  async edgeScores(
    points: readonly AttributionPoint[],
    B: number,
    T: number,
    positions: readonly (readonly number[])[],
    terms: GradientTerms,
    source: Float32Array,
    base: Float32Array,
    layout: ScoreLayout,
  ): Promise<Float32Array> {
    const { dModel: d, vocabSize: V, nLayers } = this.config;
    const overrides = points.some((p) => p.override !== undefined);
    const S = source.length / (B * T * d);
    const N = positions.reduce((a, p) => a + p.length, 0);
    const perRun = Math.max(1, Math.min(points.length, Math.floor(this.maxPointTokens / (B * T))));
    let out: Float32Array | undefined;
    for (let at = 0; at < points.length; at += perRun) {
      const chunk = points.slice(at, at + perRun);
      const P = chunk.length;
      const X = B * T * d;
      const input = new Float32Array(P * X);
      chunk.forEach((p, i) => input.set(p.input, i * X));
      const key = `attr-scores:${B}x${T}x${N}:${layout}:${P}${overrides ? ':overrides' : ''}`;
      const g = this.graph(key, () => buildAttributionGraph(this.config, this.weights, B, T, N, layout, P, overrides));
      const overrideFeeds: Feeds = {};
      if (overrides) {
        for (let L = 0; L < nLayers; L++) {
          for (const node of ['attn', 'mlp'] as const) {
            const keep = new Float32Array(P * B * T).fill(1);
            const value = new Float32Array(P * X);
            chunk.forEach((p, i) => {
              if (p.override?.node !== node || p.override.layer !== L) return;
              keep.fill(0, i * B * T, (i + 1) * B * T);
              value.set(p.override.value, i * X);
            });
            overrideFeeds[`keep_${node}_${L}`] = f32(keep, [P * B * T, 1]);
            overrideFeeds[`value_${node}_${L}`] = f32(value, [P * B * T, d]);
          }
        }
      }
      const feeds: Feeds = {
        ...overrideFeeds,
        ...g.zeros,
        input: f32(input, [P * B, T, d]),
        pick: pick(Array.from({ length: P }, () => positions).flat(), T),
        seed_add: f32(terms.add, [N, V]),
        seed_weights: f32(terms.weights, [N, V]),
        seed_self: f32(terms.self, [N, 1]),
        source_senders: f32(source, [S, B, T, d]),
        base_senders: f32(base, [S, B, T, d]),
      };
      const scores = floats((await this.pool.run(key, g.built, feeds)).edge_scores, 'edge_scores');
      if (P === points.length) return scores;
      out ??= new Float32Array(scores.length);
      for (let i = 0; i < scores.length; i++) out[i]! += (scores[i]! * P) / points.length;
    }
    if (!out) throw new Error('attribution needs at least one point');
    return out;
  }

  release(): Promise<void> {
    this.graphs.clear();
    this.zeroFeeds.clear();
    return this.pool.release();
  }
}

export interface GroupScoreOptions {
  readonly metric: Metric;
  readonly direction: Direction;
  /** Weights alpha of the points (attributionPoints). */
  readonly points: readonly number[];
  /** Default 'sum'. */
  readonly layout?: ScoreLayout;
  /** eap-ig-activations: the points interpolate one node's output at a time (see groupEdgeScores). */
  readonly activations?: boolean;
}

/** A group's sender stacks: from the caller's caches, or the senders graph's runs of the clean and corrupted inputs. */
async function stacksOf(data: AttributionData, gm: GradientModel, g: AttributionGroup): Promise<SenderStacks> {
  if (data.runsOf) {
    const runs = await data.runsOf(g);
    return { clean: await gm.senderRows.stack(runs.clean.cache), corrupted: await gm.senderRows.stack(runs.corrupted.cache), cleanRows: runs.cleanRows };
  }
  const { config: cfg, weights: w } = data.model;
  const B = g.rows.length;
  const T = g.seqLen;
  const clean = await gm.senders(inputSender(cfg, w, g.cleanInput), B, T, g.positions);
  const corrupted = await gm.senders(inputSender(cfg, w, g.corruptedInput), B, T, g.positions);
  const V = cfg.vocabSize;
  const cleanRows = g.rows.map((_, b) => new CleanRow(rowBlock(clean.logits, g.offsets, b, V).slice(), V));
  return { clean: clean.senders, corrupted: corrupted.senders, cleanRows };
}

/** The gradient terms of a metric for every target of a group (metric-gradients.ts). */
function gradientTerms(metric: Metric, g: AttributionGroup, cleanRows: readonly CleanRow[], V: number): GradientTerms {
  const N = g.offsets[g.rows.length]!;
  const terms = { add: new Float32Array(N * V), weights: new Float32Array(N * V), self: new Float32Array(N) };
  g.rows.forEach((row, b) => writeGradientTerms(metric.name, row.pair, cleanRows[b]!, terms, g.offsets[b]!));
  return terms;
}

/** Raw scores of one group in the layout asked for (mean over the points; summed over rows in 'sum'). */
export async function groupEdgeScores(data: AttributionData, gm: GradientModel, g: AttributionGroup, opts: GroupScoreOptions): Promise<Float32Array> {
  const { config: cfg } = data.model;
  const B = g.rows.length;
  const T = g.seqLen;
  const X = B * T * cfg.dModel;
  const runs = await stacksOf(data, gm, g);
  const noising = opts.direction === 'noising';
  const [baseSenders, sourceSenders] = noising ? [runs.clean, runs.corrupted] : [runs.corrupted, runs.clean];
  // The input sender of each run is the first block of its senders.
  const base = baseSenders.subarray(0, X);
  const source = sourceSenders.subarray(0, X);
  const terms = gradientTerms(opts.metric, g, runs.cleanRows, cfg.vocabSize);
  const mix = (c: Float32Array, b: Float32Array, alpha: number): Float32Array => (alpha === 1 ? b : alpha === 0 ? c : Float32Array.from(c, (x, i) => x + alpha * (b[i]! - x)));
  let points: AttributionPoint[];
  if (opts.activations) {
    // eap-ig-activations: each node in turn (the input, then per layer its attention and its MLP)
    // interpolated between the runs, the rest of the run at the base input.
    const { nLayers, nHeads: H } = cfg;
    const nodeOutput = (cache: Float32Array, node: 'attn' | 'mlp', L: number): Float32Array => {
      const first = 1 + L * (H + 1);
      if (node === 'mlp') return cache.subarray((first + H) * X, (first + H + 1) * X);
      const sum = new Float32Array(X);
      for (let h = 0; h < H; h++) {
        const head = cache.subarray((first + h) * X, (first + h + 1) * X);
        for (let i = 0; i < X; i++) sum[i]! += head[i]!;
      }
      return sum;
    };
    points = opts.points.map((alpha) => ({ input: mix(source, base, alpha) }));
    for (let L = 0; L < nLayers; L++) {
      for (const node of ['attn', 'mlp'] as const) {
        const c = nodeOutput(sourceSenders, node, L);
        const b = nodeOutput(baseSenders, node, L);
        for (const alpha of opts.points) points.push({ input: base, override: { node, layer: L, value: mix(c, b, alpha) } });
      }
    }
  } else {
    points = opts.points.map((alpha) => ({ input: mix(source, base, alpha) }));
  }
  return gm.edgeScores(points, B, T, g.positions, terms, sourceSenders, baseSenders, opts.layout ?? 'sum');
}

/** One-hot [N, B T] of the rows' metric targets, row after row (the order of metrics.ts targetOffsets). */
function pick(positions: readonly (readonly number[])[], T: number): ReturnType<typeof f32> {
  const B = positions.length;
  const N = positions.reduce((a, p) => a + p.length, 0);
  const data = new Float32Array(N * B * T);
  let n = 0;
  positions.forEach((ts, b) => {
    for (const t of ts) {
      if (!Number.isInteger(t) || t < 0 || t >= T) throw new Error(`row ${b}: metric position ${t} is outside 0..${T - 1}`);
      data[n++ * B * T + b * T + t] = 1;
    }
  });
  return f32(data, [N, B * T]);
}

// Gradient sessions are costly to build: one GradientModel per model weights, shared by every user.
const shared = new WeakMap<ModelWeights, GradientModel>();

/** The shared GradientModel of a model. */
export function gradientModelFor(model: AttributionData['model']): GradientModel {
  let gm = shared.get(model.weights);
  if (!gm) {
    gm = new GradientModel(model.config, model.weights);
    shared.set(model.weights, gm);
  }
  return gm;
}

/**
 * Mean edge scores over every row of the data, dense [S * R] (index s * R + r, as EdgeMasks and
 * Circuit lay them out); NaN where s -> r is not an edge of the graph.
 */
export async function edgeAttribution(data: AttributionData, gm: GradientModel, opts: AttributionOptions, nSenders: number, fanIn: readonly number[]): Promise<Float64Array> {
  const S = nSenders;
  const R = fanIn.length;
  const points = attributionPoints(opts.scheme, opts.steps);
  const direction = opts.direction ?? 'noising';
  const sum = new Float64Array(S * R);
  let nRows = 0;
  for (const g of data.groups) {
    const scores = await groupEdgeScores(data, gm, g, { metric: opts.metric, direction, points, layout: 'sum', activations: opts.scheme === 'eap-ig-activations' });
    for (let i = 0; i < S * R; i++) sum[i]! += scores[i]!;
    nRows += g.rows.length;
  }
  const out = new Float64Array(S * R).fill(NaN);
  for (let r = 0; r < R; r++) for (let s = 0; s < fanIn[r]!; s++) out[s * R + r] = sum[s * R + r]! / nRows;
  return out;
}
