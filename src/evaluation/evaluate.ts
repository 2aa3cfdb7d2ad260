// Scoring circuits. Faithfulness (m(C) - m(empty)) / (m(M) - m(empty)), with m a task metric's
// mean score over the dataset's rows and everything outside the circuit ablated by the corruption:
// - noising: run on the clean prompt, patch every edge NOT in C from the corrupted run;
//   m(M) = nothing patched (the clean model), m(empty) = every edge patched (the corrupted run).
// - denoising: run on the corrupted prompt, patch every edge IN C from the clean run;
//   m(M) = every edge patched (the clean run), m(empty) = nothing patched.
// The default metric is logit difference where every pair has a wrong answer, else the answer's
// probability. With KL the score is -KL(P_clean || P): m(M) = 0 for noising, so faithfulness is
// 1 - KL(C) / KL(empty). Identical masks are evaluated once, so the full circuit scores exactly 1
// and the empty one exactly 0.
// Against a ground truth: precision/recall of a circuit, ROC-AUC of edge scores (Mann-Whitney, |score|
// ranks), ROC points of a threshold sweep with AUC by trapezoid, and random circuits of equal size.
import type { ComponentGraph, Edge } from '../graph/component-graph.js';
import { EdgeMasks } from '../runtime/masks.js';
import type { Metric } from '../experiment/metrics.js';
import { Random } from '../core/random.js';
import { trapezoidAuc } from './measures.js';
import type { CurvePoint, Direction, GroundTruth, MetricName } from '../core/vocabulary.js';
import { type Experiment, resolveMetric } from '../experiment/experiment.js';

export interface FaithfulnessOptions {
  readonly direction?: Direction;
  /** Default: 'logit-diff' when every pair has a wrong answer, else 'prob'. */
  readonly metric?: Metric | MetricName;
  /** Configurations per pass (default 8). */
  readonly batch?: number;
  readonly maxRows?: number;
}

export interface FaithfulnessResult {
  readonly metric: MetricName;
  readonly direction: Direction;
  /** m(M): the full model. */
  readonly full: number;
  /** m(empty): every edge ablated. */
  readonly empty: number;
  /** m(C) per circuit. */
  readonly values: readonly number[];
  /** (m(C) - m(empty)) / (m(M) - m(empty)) per circuit (NaN when m(M) = m(empty)). */
  readonly faithfulness: readonly number[];
}

/** A circuit as an in-circuit mask [S * R] (index s * R + r); entries on non-edges are ignored. */
export type CircuitMask = Uint8Array;

/** A mask, or anything carrying one (a Circuit). */
export type CircuitLike = CircuitMask | { readonly mask: Uint8Array };

const maskOf = (c: CircuitLike): CircuitMask => (c instanceof Uint8Array ? c : c.mask);

function defaultMetric(runs: Experiment): Metric {
  return resolveMetric(runs.dataset.pairs.every((p) => p.targets.every((t) => t.wrong !== undefined)) ? 'logit-diff' : 'prob');
}

/** Faithfulness of several circuits, evaluated together (identical patch sets once). */
export async function faithfulness(runs: Experiment, circuitsIn: readonly CircuitLike[], opts: FaithfulnessOptions = {}): Promise<FaithfulnessResult> {
  const circuits = circuitsIn.map(maskOf);
  const graph = runs.model.graph;
  const metric = opts.metric === undefined ? defaultMetric(runs) : resolveMetric(opts.metric);
  runs.checkMetric(metric);
  const direction = opts.direction ?? 'noising';
  const { nSenders: S, nReceivers: R } = graph;
  const edges = [...graph.edges()].map((e) => e.sender * R + e.receiver);
  for (const c of circuits) if (c.length !== S * R) throw new Error(`circuit mask has ${c.length} entries, expected ${S * R} (S * R)`);

  // Patch sets: the key lists the patched cells, so equal sets share one evaluation.
  const patchedOf = (inCircuit: (cell: number) => boolean): number[] => edges.filter((c) => (direction === 'noising' ? !inCircuit(c) : inCircuit(c)));
  const sets = new Map<string, number[]>();
  const keyOf = (cells: number[]): string => {
    const key = cells.join(',');
    if (!sets.has(key)) sets.set(key, cells);
    return key;
  };
  const fullKey = keyOf(patchedOf(() => true));
  const emptyKey = keyOf(patchedOf(() => false));
  const circuitKeys = circuits.map((c) => keyOf(patchedOf((cell) => c[cell] === 1)));

  const keys = [...sets.keys()];
  const values = new Map<string, number>();
  const K = Math.max(1, Math.floor(opts.batch ?? 8));
  for (let k0 = 0; k0 < keys.length; k0 += K) {
    const chunk = keys.slice(k0, k0 + K);
    const data = new Float32Array(chunk.length * S * R);
    chunk.forEach((key, k) => {
      for (const c of sets.get(key)!) data[k * S * R + c] = 1;
    });
    const means = await runs.meanScores(EdgeMasks.fromData(graph, chunk.length, data), { direction, metric, maxRows: opts.maxRows });
    chunk.forEach((key, k) => values.set(key, means[k]!));
  }
  const full = values.get(fullKey)!;
  const empty = values.get(emptyKey)!;
  const vals = circuitKeys.map((k) => values.get(k)!);
  const denom = full - empty;
  return {
    metric: metric.name,
    direction,
    full,
    empty,
    values: vals,
    // `|| 0` turns -0 (empty circuit, negative denominator) into 0.
    faithfulness: vals.map((v) => (denom === 0 ? NaN : (v - empty) / denom || 0)),
  };
}

/** Faithfulness against circuit size for the circuits of a threshold sweep (sorted by size; `threshold`: tau). */
export async function faithfulnessCurve(
  runs: Experiment,
  circuits: readonly { readonly inCircuit: CircuitMask; readonly tau?: number }[],
  opts: FaithfulnessOptions = {},
): Promise<{ result: FaithfulnessResult; points: (CurvePoint & { readonly size: number })[] }> {
  const result = await faithfulness(
    runs,
    circuits.map((c) => c.inCircuit),
    opts,
  );
  const graph = runs.model.graph;
  const points = circuits.map((c, i) => ({ threshold: c.tau ?? null, size: countEdges(graph, c.inCircuit), faithfulness: result.faithfulness[i]! }));
  return { result, points: points.sort((a, b) => a.size - b.size) };
}

export function countEdges(graph: ComponentGraph, inCircuit: CircuitMask): number {
  let n = 0;
  for (const e of graph.edges()) if (inCircuit[e.sender * graph.nReceivers + e.receiver] === 1) n++;
  return n;
}

/** A mask [S * R] of the given edges (names such as `a0.h3->a1.h7<k>`, or Edge objects). */
export function edgeSetMask(graph: ComponentGraph, edges: Iterable<string | Edge>): CircuitMask {
  const m = new Uint8Array(graph.nSenders * graph.nReceivers);
  for (const e of edges) {
    const { sender, receiver } = typeof e === 'string' ? graph.parseEdge(e) : e;
    if (!graph.hasEdge(sender, receiver)) throw new Error(`no edge ${sender}->${receiver} in the graph`);
    m[sender * graph.nReceivers + receiver] = 1;
  }
  return m;
}

// ---- against a ground truth ---------------------------------------------------------------------

interface Labelled {
  /** Cells s * R + r of the edges that count. */
  readonly cells: number[];
  readonly positive: Uint8Array;
}

/** Positives: the ground truth's edges; its positional edges count as neither class. */
function label(graph: ComponentGraph, truth: GroundTruth): Labelled {
  const pos = edgeSetMask(graph, truth.edges);
  const ex = edgeSetMask(graph, truth.positionalEdges ?? []);
  const cells: number[] = [];
  for (const e of graph.edges()) {
    const c = e.sender * graph.nReceivers + e.receiver;
    if (ex[c] === 1) {
      if (pos[c] === 1) throw new Error(`edge ${graph.edgeName(e)} is both a positive and excluded`);
      continue;
    }
    cells.push(c);
  }
  return { cells, positive: pos };
}

export interface Confusion {
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  readonly tn: number;
  /** tp / (tp + fp); 1 for an empty circuit (nothing claimed, nothing wrong). */
  readonly precision: number;
  /** tp / (tp + fn), the true-positive rate. */
  readonly recall: number;
  readonly fpr: number;
}

/** Precision, recall and FPR of a circuit against a ground-truth edge set. */
export function confusion(graph: ComponentGraph, circuit: CircuitLike, truth: GroundTruth): Confusion {
  const inCircuit = maskOf(circuit);
  const { cells, positive } = label(graph, truth);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (const c of cells) {
    const inC = inCircuit[c] === 1;
    if (positive[c] === 1) {
      if (inC) tp++;
      else fn++;
    } else if (inC) fp++;
    else tn++;
  }
  return {
    tp,
    fp,
    fn,
    tn,
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: tp + fn === 0 ? NaN : tp / (tp + fn),
    fpr: fp + tn === 0 ? NaN : fp / (fp + tn),
  };
}

/**
 * ROC-AUC of scores against labels by the Mann-Whitney statistic: the probability that a random
 * positive outranks a random negative, ties counting one half (average ranks).
 */
export function rankAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean | number>): number {
  const n = scores.length;
  if (positive.length !== n) throw new Error(`${n} scores but ${positive.length} labels`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const avg = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) ranks[order[t]!] = avg;
    i = j + 1;
  }
  let nPos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; i++) {
    if (positive[i]) {
      nPos++;
      rankSum += ranks[i]!;
    }
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * ROC-AUC of edge scores ([S * R], e.g. ACDC's) against a ground truth, ranking by |score|.
 * Edges without a score (NaN: never tried) rank lowest.
 */
export function edgeScoreAuc(graph: ComponentGraph, scores: ArrayLike<number>, truth: GroundTruth): number {
  const { cells, positive } = label(graph, truth);
  const ranked = cells.map((c) => (Number.isNaN(scores[c]!) ? -Infinity : Math.abs(scores[c]!)));
  return rankAuc(
    ranked,
    cells.map((c) => positive[c] === 1),
  );
}

/** A curve point of an ROC: rates measured, `threshold` the circuit's tau, `size` its edges. */
export type RocPoint = CurvePoint & { readonly fpr: number; readonly tpr: number };

/**
 * ROC points of a threshold sweep's circuits and the area under them by the trapezoid rule, the
 * curve closed with (0, 0) and (1, 1) (ACDC's convention; points sorted by FPR, then TPR, used as
 * measured: no convex hull, so a circuit that is worse than a smaller one lowers the area).
 */
export function sweepRoc(graph: ComponentGraph, circuits: readonly { readonly inCircuit: CircuitMask; readonly tau?: number }[], truth: GroundTruth): { points: RocPoint[]; auc: number } {
  const points = circuits.map((c) => {
    const m = confusion(graph, c.inCircuit, truth);
    return { threshold: c.tau ?? null, size: countEdges(graph, c.inCircuit), faithfulness: null, fpr: m.fpr, tpr: m.recall };
  });
  return { points, auc: trapezoidAuc(points) };
}

// ---- random baselines ---------------------------------------------------------------------------

export interface RandomBaselineOptions extends FaithfulnessOptions {
  /** Number of random circuits (default 20). */
  readonly samples?: number;
  readonly seed?: number;
}

export interface RandomBaseline {
  readonly nEdges: number;
  readonly faithfulness: readonly number[];
  readonly mean: number;
  /** Sample standard deviation (n - 1). */
  readonly std: number;
  readonly min: number;
  readonly max: number;
}

/** `count` edges drawn uniformly without replacement from the graph (seeded), as a circuit mask. */
export function randomCircuit(graph: ComponentGraph, count: number, seed: number): CircuitMask {
  const all = [...graph.edges()];
  if (!Number.isInteger(count) || count < 0 || count > all.length) throw new Error(`a random circuit of ${count} edges: the graph has ${all.length}`);
  return edgeSetMask(graph, new Random(seed).shuffleFirst(all, count));
}

/** Faithfulness of `samples` random circuits with `nEdges` edges each: mean and spread. */
export async function randomBaseline(runs: Experiment, nEdges: number, opts: RandomBaselineOptions = {}): Promise<RandomBaseline> {
  const n = opts.samples ?? 20;
  const seed = opts.seed ?? 0;
  const circuits = Array.from({ length: n }, (_, i) => randomCircuit(runs.model.graph, nEdges, (Math.imul(seed, 0x9e3779b1) + i) >>> 0));
  const f = (await faithfulness(runs, circuits, opts)).faithfulness;
  const mean = f.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(f.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { nEdges, faithfulness: f, mean, std, min: Math.min(...f), max: Math.max(...f) };
}
