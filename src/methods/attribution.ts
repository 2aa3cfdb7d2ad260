// Edge scoring as registry methods, named as EAP-IG names them: `eap`, `eap-ig-inputs`,
// `eap-ig-activations` and
// `clean-corrupted` (src/gradients/edge-attribution.ts defines the scores) and `exact`
// (exact-edges.ts). One gradient computation
// scores every edge; each unit of work is one cut of those scores into a circuit (the top n edges by
// |score|, or every edge with |score| >= tau), with dangling edges removed (pruneDeadEnds) and every
// edge's score kept in the circuit.
import { circuitFromDense } from '../circuits/adapters.js';
import { type Circuit, type CircuitMetaInit, pruneDeadEnds } from '../circuits/circuit.js';
import type { AttributionMethod, Direction, MetricName } from '../core/vocabulary.js';
import { checkMetrics, type Experiment } from '../experiment/experiment.js';
import type { Metric } from '../experiment/metrics.js';
import { edgeAttribution, gradientModelFor } from '../gradients/edge-attribution.js';
import type { ComponentGraph } from '../graph/component-graph.js';
import { exactEdgeEffects } from './exact-edges.js';
import type { Method, MethodSession } from './method.js';

/** How scores become circuits: one circuit per entry. */
export type AttributionSelection = { readonly kind: 'top-n'; readonly counts: readonly number[] } | { readonly kind: 'threshold'; readonly thresholds: readonly number[] };

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
  /** The |score| threshold of a threshold cut (the circuit's meta.threshold). */
  readonly tau?: number;
  /** The edge count asked for in a top-n cut (fewer remain when dangling edges are dropped). */
  readonly topN?: number;
}

/** Unit keys of a selection: `top:N` or `abs:TAU`. */
export function selectionUnits(selection: AttributionSelection): string[] {
  return selection.kind === 'top-n' ? selection.counts.map((n) => `top:${n}`) : selection.thresholds.map((t) => `abs:${t}`);
}

/**
 * The circuit of one cut: edges ranked by |score| (ties: graph order), the top n or those at or
 * above tau, then dangling edges dropped.
 */
export function cutScores(graph: ComponentGraph, scores: Float32Array, cut: { topN: number } | { tau: number }): Uint8Array {
  const R = graph.nReceivers;
  const cells = [...graph.edges()].map((e) => e.sender * R + e.receiver);
  const mask = new Uint8Array(scores.length);
  if ('tau' in cut) {
    for (const c of cells) if (Math.abs(scores[c]!) >= cut.tau) mask[c] = 1;
  } else {
    const ranked = cells.map((c, i) => ({ c, i, a: Math.abs(scores[c]!) })).sort((x, y) => y.a - x.a || x.i - y.i);
    for (const { c } of ranked.slice(0, cut.topN)) mask[c] = 1;
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
          const [kind, value] = unit.split(':');
          const x = Number(value);
          if ((kind !== 'top' && kind !== 'abs') || !Number.isFinite(x)) throw new Error(`${name}: no unit ${unit}`);
          const inCircuit = cutScores(graph, scores, kind === 'top' ? { topN: x } : { tau: x });
          let nEdges = 0;
          for (const e of graph.edges()) nEdges += inCircuit[e.sender * graph.nReceivers + e.receiver]!;
          progress.step(1, 1, `${nEdges} edges kept`);
          return { method: name, metric: s.metric.name, direction: s.direction, graph, scores, inCircuit, nEdges, ...(kind === 'top' ? { topN: x } : { tau: x }) };
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
    extra: { ...(result.topN !== undefined ? { topN: result.topN } : {}), ...meta.extra },
  });
}

export const eap = attributionMethod('eap');
export const eapIgInputs = attributionMethod('eap-ig-inputs');
export const eapIgActivations = attributionMethod('eap-ig-activations');
export const cleanCorrupted = attributionMethod('clean-corrupted');
export const exact = attributionMethod('exact');
