// Path patching (Wang et al. 2022, edge form): the effect of patching the path sender -> receiver
// set, i.e. the edges from one sender into each receiver of the set (the q inputs of some heads,
// the logits, ...), everything else left at the base run and recomputed downstream of the
// receivers. Optionally at one token position only. A sweep patches every sender into the set,
// K senders (configurations) per runtime pass, every pass starting at the set's first layer.
// Effects as in the patching engine: (score_patched - score_base) / normaliser averaged over the
// dataset's rows, normaliser = mean clean score - mean corrupted score for normalised metrics
// (logit difference), else 1.
import type { ComponentGraph } from '../graph/component-graph.js';
import { EdgeMasks } from '../runtime/masks.js';
import type { Metric } from '../experiment/metrics.js';
import type { Direction, MetricName } from '../core/vocabulary.js';
import { type PreparedRuns, type RunGroup, resolveMetric } from '../experiment/runs.js';

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
  /** That per row (rows in PreparedRuns.rows order; Gaussian noise samples are separate rows). */
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

/** Patches each sender into the receiver set; returns one effect per sender. */
export async function pathPatch(runs: PreparedRuns, opts: PathPatchOptions): Promise<PathPatchResult> {
  const graph = runs.model.graph;
  const metric = resolveMetric(opts.metric ?? 'logit-diff');
  runs.checkMetric(metric);
  const direction = opts.direction ?? 'noising';
  const position = opts.position ?? 'all';
  const receivers = [...new Set(opts.receivers.map((r) => (typeof r === 'number' ? checkIndex(r, graph.nReceivers, 'receiver') : graph.receiverIndex(r))))];
  if (receivers.length === 0) throw new Error('path patching needs at least one receiver');
  const maxFan = Math.max(...receivers.map((r) => graph.fanIn[r]!));
  const senders = opts.senders
    ? opts.senders.map((s) => (typeof s === 'number' ? checkIndex(s, graph.nSenders, 'sender') : graph.senderIndex(s)))
    : Array.from({ length: maxFan }, (_, s) => s);
  for (const s of senders) {
    if (!receivers.some((r) => graph.hasEdge(s, r))) throw new Error(`sender ${graph.senders[s]!.name} feeds none of the receivers`);
  }
  const K = Math.max(1, Math.floor(opts.batch ?? 16));
  const evalOpts = { direction, metric, maxRows: opts.maxRows };

  const { clean, corrupted } = runs.baselineRows(metric);
  const n = runs.nRows;
  const mean = (x: Float64Array) => x.reduce((a, b) => a + b, 0) / n;
  const normaliser = metric.normalised ? mean(clean) - mean(corrupted) : 1;
  const baseRows = direction === 'noising' ? clean : corrupted;

  const effects: PathEffect[] = [];
  for (let k0 = 0; k0 < senders.length; k0 += K) {
    const chunk = senders.slice(k0, k0 + K);
    const perRow = new Float64Array(chunk.length * n);
    for (const g of runs.groups) {
      // Rows of a group may need different positions (a role): one pass per distinct position.
      const at = rowPositions(g, position);
      const B = g.rows.length;
      for (const p of new Set(at)) {
        const masks = EdgeMasks.zeros(graph, chunk.length, p === undefined ? undefined : g.seqLen);
        chunk.forEach((s, k) => {
          for (const r of receivers) if (graph.hasEdge(s, r)) masks.set(k, s, r, 1, p);
        });
        const scores = await runs.scoreGroup(g, masks, evalOpts);
        for (let k = 0; k < chunk.length; k++) {
          for (let b = 0; b < B; b++) {
            if (at[b] !== p) continue;
            const row = g.offset + b;
            perRow[k * n + row] = (scores[k * B + b]! - baseRows[row]!) / normaliser;
          }
        }
      }
    }
    chunk.forEach((s, k) => {
      const rows = perRow.slice(k * n, (k + 1) * n);
      effects.push({ sender: s, name: graph.senders[s]!.name, effect: mean(rows), perRow: rows });
    });
  }
  return { receivers, direction, metric: metric.name, normaliser, baseScore: mean(baseRows), effects };
}

/** The patched position of each row of a group (undefined: every position). */
function rowPositions(g: RunGroup, position: PathPosition): (number | undefined)[] {
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
