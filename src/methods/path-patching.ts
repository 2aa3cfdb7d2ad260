// Path patching (Wang et al. 2022, edge form): the effect of patching the path sender -> receiver
// set, i.e. the edges from one sender into each receiver of the set (the q inputs of some heads,
// the logits, ...), everything else left at the base run and recomputed downstream of the
// receivers. Optionally at one token position only. A sweep patches every sender into the set,
// K senders (configurations) per runtime pass, every pass starting at the set's first layer.
// Effects as in node patching: (score_patched - score_base) / normaliser, normaliser = mean clean
// score - mean corrupted score for normalised metrics (logit difference), else 1. The library
// function averages over the dataset's rows; the registry method stores one effect per
// (sender, pair) per row group, averaged over noise samples, whose mean over pairs is the same.
import type { Direction, MetricName } from '../core/vocabulary.js';
import type { ComponentGraph } from '../graph/component-graph.js';
import { EdgeMasks } from '../runtime/masks.js';
import type { Metric } from '../experiment/metrics.js';
import { checkMetrics, type Experiment, perPairMeans, resolveMetric, type RowGroup } from '../experiment/experiment.js';
import type { EffectRow } from '../store/types.js';
import type { Method, MethodSession } from './method.js';

/** Where the path is patched: every position, an absolute position, or a role of each pair (e.g. 'END'). */
export type PathPosition = 'all' | number | { readonly role: string };

export interface PathPatchOptions {
  /** The receiver set, by index or name (`a1.h7<q>`, `m0`, `logits`). */
  readonly receivers: readonly (number | string)[];
  /** Senders to sweep (index or name); default every sender that feeds some receiver of the set. */
  readonly senders?: readonly (number | string)[];
  /** Default 'noising' (run on the clean prompt, the path carries the corrupted run's sender). */
  readonly direction?: Direction;
  /** Default 'logit-diff'. */
  readonly metric?: Metric | MetricName;
  /** Default 'all'. */
  readonly position?: PathPosition;
  /** Senders per pass (default 16). */
  readonly batch?: number;
  readonly maxRows?: number;
}

export interface PathEffect {
  readonly sender: number;
  readonly name: string;
  /** Mean over rows of (score_patched - score_base) / normaliser. */
  readonly effect: number;
  /** That per row (rows in Experiment.rows order; Gaussian noise samples are separate rows). */
  readonly perRow: Float64Array;
}

export interface PathPatchResult {
  readonly receivers: readonly number[];
  readonly direction: Direction;
  readonly metric: MetricName;
  readonly normaliser: number;
  /** Mean base-run score (noising: clean, denoising: corrupted). */
  readonly baseScore: number;
  readonly effects: readonly PathEffect[];
}

/** Receiver indices of every head's q (or k, v) input in `heads` ([layer, head] pairs). */
export function headInputs(graph: ComponentGraph, heads: readonly (readonly [number, number])[], channel: 'q' | 'k' | 'v'): number[] {
  return heads.map(([l, h]) => graph.headInputReceiver(l, h, channel));
}

/** A path-patching sweep with names resolved to indices and checked against the graph. */
interface ResolvedPaths {
  readonly receivers: readonly number[];
  readonly senders: readonly number[];
  readonly direction: Direction;
  readonly metric: Metric;
  readonly position: PathPosition;
  readonly batch: number;
  readonly maxRows?: number;
}

/** Resolves and checks names; throws an Error naming the first problem. */
function resolvePaths(graph: ComponentGraph, opts: PathPatchOptions): ResolvedPaths {
  const receivers = [...new Set(opts.receivers.map((r) => (typeof r === 'number' ? checkIndex(r, graph.nReceivers, 'receiver') : graph.receiverIndex(r))))];
  if (receivers.length === 0) throw new Error('path patching needs at least one receiver');
  const maxFan = Math.max(...receivers.map((r) => graph.fanIn[r]!));
  const senders = opts.senders ? opts.senders.map((s) => (typeof s === 'number' ? checkIndex(s, graph.nSenders, 'sender') : graph.senderIndex(s))) : Array.from({ length: maxFan }, (_, s) => s);
  for (const s of senders) {
    if (!receivers.some((r) => graph.hasEdge(s, r))) throw new Error(`sender ${graph.senders[s]!.name} feeds none of the receivers`);
  }
  return {
    receivers,
    senders,
    direction: opts.direction ?? 'noising',
    metric: resolveMetric(opts.metric ?? 'logit-diff'),
    position: opts.position ?? 'all',
    batch: Math.max(1, Math.floor(opts.batch ?? 16)),
    maxRows: opts.maxRows,
  };
}

/** Per-row effects [senders x B] of one group: every sender's path, `batch` senders per pass. */
async function groupEffects(exp: Experiment, g: RowGroup, p: ResolvedPaths, baseRows: Float64Array, normaliser: number): Promise<Float64Array> {
  const graph = exp.model.graph;
  const B = g.rows.length;
  const out = new Float64Array(p.senders.length * B);
  const at = rowPositions(g, p.position);
  for (let k0 = 0; k0 < p.senders.length; k0 += p.batch) {
    const chunk = p.senders.slice(k0, k0 + p.batch);
    // Rows of a group may need different positions (a role): one pass per distinct position.
    for (const pos of new Set(at)) {
      const masks = EdgeMasks.zeros(graph, chunk.length, pos === undefined ? undefined : g.seqLen);
      chunk.forEach((s, k) => {
        for (const r of p.receivers) if (graph.hasEdge(s, r)) masks.set(k, s, r, 1, pos);
      });
      const scores = await exp.scoreGroup(g, masks, { direction: p.direction, metric: p.metric, maxRows: p.maxRows });
      for (let k = 0; k < chunk.length; k++) {
        for (let b = 0; b < B; b++) {
          if (at[b] === pos) out[(k0 + k) * B + b] = (scores[k * B + b]! - baseRows[g.offset + b]!) / normaliser;
        }
      }
    }
  }
  return out;
}

/** Base-run scores per row and the normaliser, over the whole experiment. */
async function pathBaselines(exp: Experiment, p: ResolvedPaths): Promise<{ baseRows: Float64Array; normaliser: number; baseScore: number }> {
  const { clean, corrupted } = await exp.baselineRows(p.metric);
  const mean = (x: Float64Array) => x.reduce((a, b) => a + b, 0) / exp.nRows;
  const baseRows = p.direction === 'noising' ? clean : corrupted;
  return { baseRows, normaliser: p.metric.normalised ? mean(clean) - mean(corrupted) : 1, baseScore: mean(baseRows) };
}

/** Patches each sender into the receiver set; returns one effect per sender. */
export async function pathPatch(exp: Experiment, opts: PathPatchOptions): Promise<PathPatchResult> {
  const graph = exp.model.graph;
  const p = resolvePaths(graph, opts);
  exp.checkMetric(p.metric);
  const { baseRows, normaliser, baseScore } = await pathBaselines(exp, p);
  const n = exp.nRows;
  const perRow = p.senders.map(() => new Float64Array(n));
  for (const g of exp.groups) {
    const e = await groupEffects(exp, g, p, baseRows, normaliser);
    const B = g.rows.length;
    p.senders.forEach((_, k) => perRow[k]!.set(e.subarray(k * B, (k + 1) * B), g.offset));
  }
  const effects = p.senders.map((s, k) => ({ sender: s, name: graph.senders[s]!.name, effect: perRow[k]!.reduce((a, b) => a + b, 0) / n, perRow: perRow[k]! }));
  return { receivers: p.receivers, direction: p.direction, metric: p.metric.name, normaliser, baseScore, effects };
}

/** The patched position of each row of a group (undefined: every position). */
function rowPositions(g: RowGroup, position: PathPosition): (number | undefined)[] {
  return g.rows.map((r) => {
    if (position === 'all') return undefined;
    const p = typeof position === 'number' ? position : r.pair.roles[position.role];
    if (p === undefined) throw new Error(`pair ${r.pair.index} has no role ${JSON.stringify((position as { role: string }).role)}`);
    if (!Number.isInteger(p) || p < 0 || p >= g.seqLen) throw new Error(`pair ${r.pair.index}: position ${p} is outside 0..${g.seqLen - 1}`);
    return p;
  });
}

function checkIndex(i: number, n: number, what: string): number {
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`${what} index ${i} is outside 0..${n - 1}`);
  return i;
}

// ---- the registry method ----

/** Settings of a stored path-patching sweep: names, so they are stored as given. */
export interface PathPatchingSettings {
  readonly receivers: readonly string[];
  /** Default: every sender that feeds some receiver of the set. */
  readonly senders?: readonly string[];
  readonly direction: Direction;
  readonly metric: Metric;
  readonly position: PathPosition;
}

/** Effects of one unit: one row per (sender, pair), component = the sender's name, kind 'path'. */
export type PathEffects = readonly EffectRow[];

export interface PathPatchingSession extends MethodSession<PathEffects> {
  readonly normaliser: number;
  readonly baseScore: number;
}

const resolveSettings = (graph: ComponentGraph, s: PathPatchingSettings): ResolvedPaths =>
  resolvePaths(graph, { receivers: s.receivers, senders: s.senders, direction: s.direction, metric: s.metric, position: s.position });

/** Path patching as a registry method: units are the experiment's row groups. */
export const pathPatching: Method<PathPatchingSettings, PathEffects, PathPatchingSession> = {
  name: 'path-patching',
  units: (exp) => exp.groups.map((g) => g.key),
  check(exp, s) {
    const problems = [...checkMetrics(exp.dataset, [s.metric])];
    try {
      const p = resolveSettings(exp.model.graph, s);
      for (const g of exp.groups) rowPositions(g, p.position);
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      problems.push(e.message);
    }
    return problems;
  },
  async open(exp, s) {
    const graph = exp.model.graph;
    const p = resolveSettings(graph, s);
    const { baseRows, normaliser, baseScore } = await pathBaselines(exp, p);
    return {
      normaliser,
      baseScore,
      async run(unit, progress) {
        const g = exp.groups.find((x) => x.key === unit);
        if (g === undefined) throw new Error(`path patching: no unit ${unit} in this experiment`);
        const e = await groupEffects(exp, g, p, baseRows, normaliser);
        progress.step(1, 1);
        return perPairMeans(g, e).flatMap((pairs, k) => {
          const sender = graph.senders[p.senders[k]!]!;
          const layer = sender.kind === 'input' ? 0 : sender.layer;
          const head = sender.kind === 'head' ? sender.head : null;
          return pairs.map(([prompt, value]) => ({ component: sender.name, kind: 'path', layer, head, position: null, window: 1, prompt, value }));
        });
      },
    };
  },
};
