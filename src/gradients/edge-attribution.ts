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
// - 'clean-corrupted': the base and the source run.
//
// Sender values c_s, b_s are those of the unpatched runs at c and b (not at the point x), as EAP-IG
// computes them.
import type { AttributionMethod, Direction } from '../core/vocabulary.js';
import { CleanRow, type Metric, rowBlock } from '../experiment/metrics.js';
import type { ModelConfig, ModelWeights } from '../model/types.js';
import { inputSender, type RunInput } from '../runtime/inputs.js';
import { f32, floats, SessionPool } from '../runtime/sessions.js';
import type { PromptPair } from '../tasks/types.js';
import { type AttributionGraphs, buildAttributionGraphs } from './attribution-graph.js';
import { scoreGradient } from './metric-gradients.js';

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

/** What attribution reads of an experiment (Experiment has it): the model and the batched rows. */
export interface AttributionData {
  readonly model: { readonly config: ModelConfig; readonly weights: ModelWeights };
  readonly groups: readonly AttributionGroup[];
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
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`eap-ig-inputs needs a whole number of steps >= 1, got ${steps}`);
  return Array.from({ length: steps }, (_, k) => (k + 1) / steps);
}

/** Forward and attribution sessions of one model, one pair of graphs per batch shape. */
export class GradientModel {
  private readonly pool: SessionPool;
  private readonly graphs = new Map<string, AttributionGraphs>();

  constructor(
    readonly config: ModelConfig,
    readonly weights: ModelWeights,
    pool?: SessionPool,
  ) {
    this.pool = pool ?? new SessionPool();
  }

  private graphsFor(B: number, T: number, N: number, perPosition = false): AttributionGraphs {
    const key = `${B}x${T}x${N}${perPosition ? 'pos' : ''}`;
    let g = this.graphs.get(key);
    if (!g) {
      g = buildAttributionGraphs(this.config, this.weights, B, T, N, perPosition);
      this.graphs.set(key, g);
    }
    return g;
  }

  private zeroDeltas(B: number, T: number, N: number): Record<string, ReturnType<typeof f32>> {
    const feeds: Record<string, ReturnType<typeof f32>> = {};
    for (const x of this.graphsFor(B, T, N).deltas) feeds[x.name] = f32(new Float32Array(x.shape.reduce((a, b) => a * b, 1)), x.shape);
    return feeds;
  }

  /**
   * Logits [N, V] at the rows' metric targets (row after row) and sender outputs [S, B, T, d] of the
   * run at `input` (the input sender, [B, T, d]).
   */
  async forward(input: Float32Array, B: number, T: number, positions: readonly (readonly number[])[]): Promise<{ logits: Float32Array; senders: Float32Array }> {
    const p = pick(positions, T);
    const N = p.dims[0]!;
    const feeds = { ...this.zeroDeltas(B, T, N), input: f32(input, [B, T, this.config.dModel]), pick: p };
    const out = await this.pool.run(`attr-forward:${B}x${T}x${N}`, () => this.graphsFor(B, T, N).forward, feeds);
    return { logits: floats(out.logits, 'logits'), senders: floats(out.senders, 'senders') };
  }

  /**
   * Edge scores [B, S, R]: sum_t senderDelta[s, b, t] . d(sum logits * gradLogits)_b / d input_r[b, t]
   * at `input`, logits and gradLogits [N, V] at the rows' metric targets; per position [B, T, S, R]
   * (no sum over t).
   */
  async edgeScores(
    input: Float32Array,
    B: number,
    T: number,
    positions: readonly (readonly number[])[],
    gradLogits: Float32Array,
    senderDelta: Float32Array,
    perPosition = false,
  ): Promise<Float32Array> {
    const { dModel: d, vocabSize: V } = this.config;
    const S = senderDelta.length / (B * T * d);
    const p = pick(positions, T);
    const N = p.dims[0]!;
    const feeds = {
      ...this.zeroDeltas(B, T, N),
      input: f32(input, [B, T, d]),
      pick: p,
      grad_logits: f32(gradLogits, [N, V]),
      sender_delta: f32(senderDelta, [S, B, T, d]),
    };
    const key = `attr-backward:${B}x${T}x${N}${perPosition ? 'pos' : ''}`;
    const out = await this.pool.run(key, () => this.graphsFor(B, T, N, perPosition).attribution, feeds);
    return floats(out.edge_scores, 'edge_scores');
  }

  release(): Promise<void> {
    this.graphs.clear();
    return this.pool.release();
  }
}

export interface GroupScoreOptions {
  readonly metric: Metric;
  readonly direction: Direction;
  /** Weights alpha of the points (attributionPoints). */
  readonly points: readonly number[];
  /** Scores per position [B, T, S, R] instead of [B, S, R]. */
  readonly perPosition?: boolean;
}

/** Raw per-row scores of one group (mean over the points), as GradientModel.edgeScores lays them out. */
export async function groupEdgeScores(model: AttributionData['model'], gm: GradientModel, g: AttributionGroup, opts: GroupScoreOptions): Promise<Float32Array> {
  const { config: cfg, weights: w } = model;
  const V = cfg.vocabSize;
  const B = g.rows.length;
  const T = g.seqLen;
  const noising = opts.direction === 'noising';
  const clean = inputSender(cfg, w, g.cleanInput);
  const corrupted = inputSender(cfg, w, g.corruptedInput);
  const [base, source] = noising ? [clean, corrupted] : [corrupted, clean];
  const at = g.positions;
  const cleanRun = await gm.forward(clean, B, T, at);
  const cleanRows = g.rows.map((_, b) => new CleanRow(rowBlock(cleanRun.logits, g.offsets, b, V).slice(), V));
  const sourceRun = await gm.forward(source, B, T, at);
  const baseSenders = noising ? cleanRun.senders : (await gm.forward(base, B, T, at)).senders;
  const senderDelta = new Float32Array(baseSenders.length);
  for (let i = 0; i < senderDelta.length; i++) senderDelta[i] = sourceRun.senders[i]! - baseSenders[i]!;

  let sum: Float32Array | undefined;
  for (const alpha of opts.points) {
    const x = alpha === 1 ? base : alpha === 0 ? source : Float32Array.from(source, (c, i) => c + alpha * (base[i]! - c));
    const logits = alpha === 1 && noising ? cleanRun.logits : (await gm.forward(x, B, T, at)).logits;
    const seed = new Float32Array(g.offsets[B]! * V);
    g.rows.forEach((row, b) => seed.set(scoreGradient(opts.metric.name, rowBlock(logits, g.offsets, b, V), row.pair, cleanRows[b]!), g.offsets[b]! * V));
    const scores = await gm.edgeScores(x, B, T, at, seed, senderDelta, opts.perPosition);
    if (opts.points.length === 1) return scores;
    sum ??= new Float32Array(scores.length);
    for (let i = 0; i < scores.length; i++) sum[i]! += scores[i]! / opts.points.length;
  }
  if (!sum) throw new Error('attribution needs at least one point');
  return sum;
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
    const B = g.rows.length;
    const scores = await groupEdgeScores(data.model, gm, g, { metric: opts.metric, direction, points });
    for (let b = 0; b < B; b++) {
      for (let r = 0; r < R; r++) {
        for (let s = 0; s < fanIn[r]!; s++) sum[s * R + r]! += scores[(b * S + s) * R + r]!;
      }
    }
    nRows += B;
  }
  const out = new Float64Array(S * R).fill(NaN);
  for (let r = 0; r < R; r++) for (let s = 0; s < fanIn[r]!; s++) out[s * R + r] = sum[s * R + r]! / nRows;
  return out;
}
