// MIB-style evaluation of a scored circuit (the circuit localization track of the MIB benchmark):
// the top floor(p * |E|) edges for each p in MIB_FRACTIONS, dead ends then dropped (MIB prunes too),
// each scored by faithfulness. CPR ranks edges by signed score (higher first) and integrates f;
// CMD ranks by |score| and integrates |1 - f|. Unscored edges (NaN, e.g. never tried by ACDC)
// rank last. Identical masks are evaluated once (faithfulness() shares patch sets).
import type { ComponentGraph } from '../graph/component-graph.js';
import { pruneDeadEnds } from '../circuits/circuit.js';
import { topEdges } from '../circuits/ranking.js';
import type { Experiment } from '../experiment/experiment.js';
import type { CurvePoint } from '../core/vocabulary.js';
import { countEdges, faithfulness, type FaithfulnessOptions } from './evaluate.js';
import { MIB_FRACTIONS, mibAreas } from './measures.js';

export type MibRanking = 'signed' | 'absolute';

export interface MibEvaluation {
  /** Area under faithfulness, edges ranked by signed score (higher is better). */
  readonly cpr: number;
  /** Area under |1 - faithfulness|, edges ranked by |score| (lower is better). */
  readonly cmd: number;
  /** One point per fraction: threshold = the fraction, size = edges kept after pruning. */
  readonly signed: readonly (CurvePoint & { readonly threshold: number; readonly size: number; readonly faithfulness: number })[];
  readonly absolute: readonly (CurvePoint & { readonly threshold: number; readonly size: number; readonly faithfulness: number })[];
}

/** Edges kept at each MIB fraction of a graph of `nEdges` edges (MIB truncates: int(p * n)). */
export function mibEdgeCounts(nEdges: number): number[] {
  return MIB_FRACTIONS.map((p) => Math.floor(p * nEdges));
}

/** The mask of the `n` best-ranked edges of `scores` ([S * R]; circuits/ranking.ts), dead ends dropped. */
export function topRankedMask(graph: ComponentGraph, scores: ArrayLike<number>, n: number, ranking: MibRanking): Uint8Array {
  return pruneDeadEnds(graph, topEdges(graph, scores, n, ranking === 'signed'));
}

/** CPR and CMD of edge scores ([S * R]) on an experiment, with both faithfulness curves. */
export async function mibEvaluate(runs: Experiment, scores: ArrayLike<number>, opts: FaithfulnessOptions = {}): Promise<MibEvaluation> {
  const graph = runs.model.graph;
  const counts = mibEdgeCounts(graph.nEdges);
  const masks = (['signed', 'absolute'] as const).flatMap((r) => counts.map((n) => topRankedMask(graph, scores, n, r)));
  const f = (await faithfulness(runs, masks, opts)).faithfulness;
  const curve = (offset: number) => MIB_FRACTIONS.map((p, i) => ({ threshold: p, size: countEdges(graph, masks[offset + i]!), faithfulness: f[offset + i]! }));
  const signed = curve(0);
  const absolute = curve(counts.length);
  for (const [name, c] of [
    ['signed', signed],
    ['absolute', absolute],
  ] as const) {
    const bad = c.find((p) => !Number.isFinite(p.faithfulness));
    if (bad) throw new Error(`MIB evaluation: faithfulness is not finite at ${bad.threshold * 100} % of edges (${name} ranking); the full and empty circuits score the same`);
  }
  return {
    cpr: mibAreas(
      MIB_FRACTIONS,
      signed.map((p) => p.faithfulness),
    ).under,
    cmd: mibAreas(
      MIB_FRACTIONS,
      absolute.map((p) => p.faithfulness),
    ).fromOne,
    signed,
    absolute,
  };
}
