// Edge scoring as registry methods, named as EAP-IG names them: `eap`, `eap-ig-inputs`,
// `eap-ig-activations` and
// `clean-corrupted` (src/gradients/edge-attribution.ts defines the scores) and `exact`
// (exact-edges.ts). One gradient computation
// scores every edge; each unit of work is one cut of those scores into a circuit (the top n edges by
// |score|, or every edge with |score| >= tau), with dangling edges removed (pruneDeadEnds) and every
// edge's score kept in the circuit.
import { circuitFromDense } from '../circuits/adapters.js';
import { type Circuit, type CircuitMetaInit, pruneDeadEnds } from '../circuits/circuit.js';
import { greedyEdges } from '../circuits/greedy.js';
import { edgeRank, topEdges } from '../circuits/ranking.js';
import type { AttributionMethod, Direction, MetricName } from '../core/vocabulary.js';
import { checkMetrics, type Experiment } from '../experiment/experiment.js';
import type { Metric } from '../experiment/metrics.js';
import { edgeAttribution, gradientModelFor } from '../gradients/edge-attribution.js';
import type { ComponentGraph } from '../graph/component-graph.js';
import { exactEdgeEffects } from './exact-edges.js';
import type { Method, MethodSession } from './method.js';

/**
 * How scores become circuits, one circuit per entry: the top n edges, EAP-IG's greedy selection of
 * n edges (connected to the logits, greedy.ts), or every edge at or above a threshold. Edges rank by
 * |score|, or by the signed score when `signed` (edges that help the metric first).
 */
export type AttributionSelection =
  | { readonly kind: 'top-n'; readonly counts: readonly number[]; readonly signed?: boolean }
  | { readonly kind: 'greedy'; readonly counts: readonly number[]; readonly signed?: boolean }
  | { readonly kind: 'threshold'; readonly thresholds: readonly number[]; readonly signed?: boolean };

export interface AttributionSettings {
  readonly metric: Metric;
  readonly direction: Direction;
  /** Interpolation steps of eap-ig-inputs and eap-ig-activations (ignored by the others). */
  readonly steps: number;
  readonly selection: AttributionSelection;
}

/** One cut of an attribution: a DenseResult (circuits/adapters.ts) with the cut that made it. */
export interface AttributionResult {
  readonly method: AttributionMethod;
  readonly metric: MetricName;
  readonly direction: Direction;
  readonly graph: ComponentGraph;
  /** Every edge's score [S * R]; NaN where no edge. */
  readonly scores: Float32Array;
  readonly inCircuit: Uint8Array;
  readonly nEdges: number;
  /** The threshold of a threshold cut (the circuit's meta.threshold). */
  readonly tau?: number;
  /** The edge count asked for in a top-n or greedy cut (fewer remain when dangling edges are dropped). */
  readonly topN?: number;
  readonly selection: AttributionSelection['kind'];
  /** Ranked (or cut) by signed score rather than |score|. */
  readonly signed: boolean;
}

/** One cut: n edges (top or greedy) or a threshold, by |score| or signed score. */
export type Cut = { readonly topN: number; readonly greedy?: boolean; readonly signed?: boolean } | { readonly tau: number; readonly signed?: boolean };

const UNIT_KINDS = { top: 'top-n', greedy: 'greedy', abs: 'threshold' } as const;

/** Unit keys of a selection: `top:N`, `greedy:N` or `abs:TAU`, with `-signed` after the kind when signed. */
export function selectionUnits(selection: AttributionSelection): string[] {
  const suffix = selection.signed ? '-signed' : '';
  if (selection.kind === 'threshold') return selection.thresholds.map((t) => `abs${suffix}:${t}`);
  const kind = selection.kind === 'greedy' ? 'greedy' : 'top';
  return selection.counts.map((n) => `${kind}${suffix}:${n}`);
}

/** The cut a unit key names (selectionUnits' inverse); undefined for a key it never makes. */
export function unitCut(unit: string): Cut | undefined {
  const m = /^(top|greedy|abs)(-signed)?:(.+)$/.exec(unit);
  if (!m) return undefined;
  const x = Number(m[3]);
  if (!Number.isFinite(x)) return undefined;
  const signed = m[2] !== undefined;
  return UNIT_KINDS[m[1] as keyof typeof UNIT_KINDS] === 'threshold' ? { tau: x, signed } : { topN: x, greedy: m[1] === 'greedy', signed };
}

/**
 * The circuit of one cut: edges ranked by |score| (or score when signed; circuits/ranking.ts), the
 * top n, greedy's n, or those at or above tau; then dangling edges dropped.
 */
export function cutScores(graph: ComponentGraph, scores: Float32Array, cut: Cut): Uint8Array {
  const signed = cut.signed ?? false;
  let mask: Uint8Array;
  if ('tau' in cut) {
    const R = graph.nReceivers;
    mask = new Uint8Array(scores.length);
    for (const e of graph.edges()) if (edgeRank(scores[e.sender * R + e.receiver]!, signed) >= cut.tau) mask[e.sender * R + e.receiver] = 1;
  } else {
    mask = cut.greedy ? greedyEdges(graph, scores, cut.topN, signed) : topEdges(graph, scores, cut.topN, signed);
  }
  return pruneDeadEnds(graph, mask);
}

/** Scores of every edge on an experiment's rows (mean over rows), [S * R], NaN where no edge. */
export async function attributionScores(exp: Experiment, method: AttributionMethod, s: Omit<AttributionSettings, 'selection'>): Promise<Float32Array> {
  if (method === 'exact') return Float32Array.from(await exactEdgeEffects(exp, { metric: s.metric, direction: s.direction }));
  const graph = exp.model.graph;
  const scores = await edgeAttribution(exp, gradientModelFor(exp.model), { scheme: method, metric: s.metric, direction: s.direction, steps: s.steps }, graph.nSenders, graph.fanIn);
  return Float32Array.from(scores);
}

function attributionMethod(name: AttributionMethod): Method<AttributionSettings, AttributionResult> {
  return {
    name,
    units: (_exp, s) => selectionUnits(s.selection),
    check: (exp, s) => [
      ...checkMetrics(exp.dataset, [s.metric]),
      ...((name === 'eap-ig-inputs' || name === 'eap-ig-activations') && !(Number.isInteger(s.steps) && s.steps >= 1) ? [`${name}: steps must be a whole number >= 1, got ${s.steps}`] : []),
    ],
    async open(exp, s): Promise<MethodSession<AttributionResult>> {
      const scores = await attributionScores(exp, name, s);
      const graph = exp.model.graph;
      return {
        async run(unit, progress) {
          const cut = unitCut(unit);
          if (!cut) throw new Error(`${name}: no unit ${unit}`);
          const inCircuit = cutScores(graph, scores, cut);
          let nEdges = 0;
          for (const e of graph.edges()) nEdges += inCircuit[e.sender * graph.nReceivers + e.receiver]!;
          progress.step(1, 1, `${nEdges} edges kept`);
          return {
            method: name,
            metric: s.metric.name,
            direction: s.direction,
            graph,
            scores,
            inCircuit,
            nEdges,
            selection: 'tau' in cut ? 'threshold' : cut.greedy ? 'greedy' : 'top-n',
            signed: cut.signed ?? false,
            ...('tau' in cut ? { tau: cut.tau } : { topN: cut.topN }),
          };
        },
      };
    },
  };
}

/** The result as a Circuit (threshold cuts: meta.threshold = tau; top-n cuts: extra.topN). */
export function attributionCircuit(result: AttributionResult, meta: Partial<CircuitMetaInit> = {}): Circuit {
  return circuitFromDense(result, {
    method: result.method,
    ...meta,
    threshold: result.tau ?? null,
    extra: { ...(result.topN !== undefined ? { topN: result.topN } : {}), selection: result.selection, signed: result.signed, ...meta.extra },
  });
}

export const eap = attributionMethod('eap');
export const eapIgInputs = attributionMethod('eap-ig-inputs');
export const eapIgActivations = attributionMethod('eap-ig-activations');
export const cleanCorrupted = attributionMethod('clean-corrupted');
export const exact = attributionMethod('exact');
