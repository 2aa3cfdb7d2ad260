// What a circuit looks like at a cut: its edge mask (stored, or re-cut at a threshold), how its
// edges are drawn (colour by sign, width by |score|), what hovering them says, and the stored
// faithfulness nearest to its size.
import type { VizCurve, VizIndex } from '../../src/viz-export/format.js';
import type { LoadedCircuit } from './data.js';
import { countOnes, maskNodes, thresholdMask } from './edges.js';
import type { EdgeStyle } from './graph-view.js';
import { NEGATIVE, POSITIVE, UNSCORED } from './palette.js';
import { fmt, fmtInt } from './text.js';

export interface Cut {
  readonly mask: Uint8Array;
  readonly edges: number;
  readonly nodes: string[];
  /** undefined = the stored mask. */
  readonly tau: number | undefined;
}

export function cut(c: LoadedCircuit, tau: number | undefined): Cut {
  const mask = tau === undefined ? c.mask : thresholdMask(c.ix, c.scores, tau);
  return { mask, edges: countOnes(mask), nodes: maskNodes(c.ix, mask), tau };
}

/** |score| relative to the circuit's largest (0 for unscored edges). */
export function strength(score: number, maxAbs: number): number {
  return Number.isNaN(score) ? 0 : Math.min(1, Math.abs(score) / maxAbs);
}

export function signColor(score: number): string {
  return Number.isNaN(score) ? UNSCORED : score < 0 ? NEGATIVE : POSITIVE;
}

export function circuitEdgeStyle(c: LoadedCircuit, mask: Uint8Array): EdgeStyle {
  return { visible: mask, color: (k) => signColor(c.scores[k]!), strength: (k) => strength(c.scores[k]!, c.maxAbs) };
}

export function edgeName(c: LoadedCircuit, k: number): string {
  const g = c.ix.graph;
  return `${g.senders[c.ix.sender[k]!]!.name}->${g.receivers[c.ix.receiver[k]!]!.name}`;
}

export function describeCircuitEdge(c: LoadedCircuit, mask: Uint8Array, k: number): string[] {
  const r = c.ix.graph.receivers[c.ix.receiver[k]!]!;
  const into = r.kind === 'head-input' ? `${r.channel === 'q' ? 'query' : r.channel === 'k' ? 'key' : 'value'} input` : r.kind === 'mlp' ? 'MLP input' : 'logits';
  return [edgeName(c, k), `score ${fmt(c.scores[k]!, 4)}`, `into the ${into}`, mask[k] === 1 ? 'in the circuit' : 'not in the circuit'];
}

/** The node's in-circuit edges, largest |score| first. */
export function nodeEdges(c: LoadedCircuit, mask: Uint8Array, node: string): { incoming: number[]; outgoing: number[] } {
  const g = c.ix.graph;
  const incoming: number[] = [];
  const outgoing: number[] = [];
  for (let k = 0; k < c.ix.nEdges; k++) {
    if (mask[k] !== 1) continue;
    const r = g.receivers[c.ix.receiver[k]!]!;
    if (g.senders[c.ix.sender[k]!]!.name === node) outgoing.push(k);
    if (r.name === node || (r.kind === 'head-input' && `a${r.layer}.h${r.head}` === node)) incoming.push(k);
  }
  const byMag = (a: number, b: number): number => Math.abs(c.scores[b]!) - Math.abs(c.scores[a]!) || a - b;
  incoming.sort(byMag);
  outgoing.sort(byMag);
  return { incoming, outgoing };
}

/**
 * Stored curves of a circuit: tied to it by id, or (curves tied to no circuit, such as a sweep over
 * thresholds) sharing its pipeline and either its key or the run that produced it.
 */
export function circuitCurves(index: VizIndex, c: { id: number; pipeline: string; key: string; runId: number | null }, kind: string): VizCurve[] {
  return index.curves.filter(
    (cv) => cv.kind === kind && (cv.circuitId === c.id || (cv.circuitId === null && cv.pipeline === c.pipeline && (cv.key === c.key || (c.runId !== null && cv.runId === c.runId)))),
  );
}

export interface FaithfulnessAt {
  readonly value: number;
  /** Size of the stored point (may differ from the size asked for). */
  readonly size: number;
  readonly exact: boolean;
}

/** A stored point this much larger or smaller (relative) still stands for a cut's faithfulness. */
export const NEAR_SIZE = 0.1;

/**
 * The stored faithfulness at a cut of `size` edges: the stored circuit's own value, else the stored
 * point of exactly that size, else one within NEAR_SIZE of it (marked approximate). Nothing for an
 * empty cut or when the nearest point is further away: a far point says nothing about this cut.
 */
export function faithfulnessAt(index: VizIndex, c: LoadedCircuit, size: number, tau: number | undefined): FaithfulnessAt | undefined {
  if (tau === undefined && c.info.faithfulness !== null) return { value: c.info.faithfulness, size: c.info.size, exact: true };
  if (size === 0) return undefined;
  let best: FaithfulnessAt | undefined;
  for (const cv of circuitCurves(index, c.info, 'faithfulness')) {
    cv.size.forEach((sz, i) => {
      const f = cv.faithfulness[i];
      if (sz === null || sz === undefined || f === null || f === undefined) return;
      if (best === undefined || Math.abs(sz - size) < Math.abs(best.size - size)) best = { value: f, size: sz, exact: sz === size };
    });
  }
  return best !== undefined && Math.abs(best.size - size) <= NEAR_SIZE * size ? best : undefined;
}

export function faithfulnessText(f: FaithfulnessAt | undefined, size?: number): string {
  if (size === 0) return 'empty circuit';
  if (f === undefined) return 'faithfulness: not stored at this size';
  return f.exact ? `faithfulness ${fmt(f.value)}` : `faithfulness ≈ ${fmt(f.value)} (stored point at ${fmtInt(f.size)} edges)`;
}
