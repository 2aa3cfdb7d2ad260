// How well an estimate of node effects (AtP, node-attribution) agrees with the exact effects
// (node-patching) of the same grid point: Pearson and Spearman correlation of the per-component
// mean effects, overlap of the top k components by |effect|, sign agreement, and the Jaccard index
// of the two runs' detected components. Pure arithmetic over matched components.
import type { ComponentCoords } from '../core/vocabulary.js';
import { jaccard } from './measures.js';

/** The top-k sizes reported when the runs have more components than k (a k >= n would always agree). */
export const AGREEMENT_TOP_KS: readonly number[] = [5, 10, 20];

export interface TopKOverlap {
  readonly k: number;
  /** Components in both top-k sets (ranked by |mean effect|). */
  readonly shared: number;
  /** shared / k. */
  readonly fraction: number;
}

export interface EffectAgreement {
  /** Components compared (every component of either run: both runs must have the same ones). */
  readonly n: number;
  /** Pearson correlation of the mean effects; null where it is undefined (fewer than 2 components, or one side constant). */
  readonly pearson: number | null;
  /** Spearman rank correlation (Pearson of average ranks); null where undefined. */
  readonly spearman: number | null;
  /** Fraction of components whose two mean effects have the same sign (0 matching only 0). */
  readonly signAgreement: number;
  /** Top-k overlap for each k of AGREEMENT_TOP_KS below n, and for k = the exact run's detection count where 0 < count < n. */
  readonly topK: readonly TopKOverlap[];
  /** The runs' detected components: how many each detected, how many both did, and the Jaccard index (1 when neither detected any). */
  readonly detections: { readonly exact: number; readonly estimate: number; readonly both: number; readonly jaccard: number };
}

/** A component's identity across runs. */
export function componentKey(c: ComponentCoords): string {
  return JSON.stringify([c.component, c.layer, c.head, c.position, c.window]);
}

/** Ranks from 1 in ascending order, tied values given their mean rank. */
export function averageRanks(xs: readonly number[]): number[] {
  const order = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const out = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && xs[order[j + 1]!] === xs[order[i]!]) j++;
    for (let t = i; t <= j; t++) out[order[t]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

/** Pearson correlation; null when undefined (n < 2, or either side has zero variance). */
export function pearson(a: readonly number[], b: readonly number[]): number | null {
  if (a.length !== b.length) throw new Error(`pearson: ${a.length} values against ${b.length}`);
  const n = a.length;
  if (n < 2) return null;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  if (!(saa > 0 && sbb > 0)) return null;
  // Rounding can push a perfect correlation a hair past 1.
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** Spearman rank correlation: Pearson of the average ranks (ties share their mean rank). */
export function spearman(a: readonly number[], b: readonly number[]): number | null {
  return pearson(averageRanks(a), averageRanks(b));
}

/**
 * Indices of the k largest |values|; ties at the cut go to the earlier index, so the choice is
 * deterministic (callers order components by key).
 */
export function topKByMagnitude(values: readonly number[], k: number): Set<number> {
  const order = values.map((_, i) => i).sort((x, y) => Math.abs(values[y]!) - Math.abs(values[x]!) || x - y);
  return new Set(order.slice(0, k));
}

/** The k values compared: AGREEMENT_TOP_KS below n, plus the exact run's detection count when 0 < it < n; ascending, no repeats. */
export function agreementKs(n: number, exactDetections: number): number[] {
  const ks = AGREEMENT_TOP_KS.filter((k) => k < n);
  if (exactDetections > 0 && exactDetections < n) ks.push(exactDetections);
  return [...new Set(ks)].sort((a, b) => a - b);
}

export interface AgreementInput {
  /** Per-component mean effects. */
  readonly effects: readonly (ComponentCoords & { readonly mean: number })[];
  /** The components the run detected. */
  readonly detections: readonly ComponentCoords[];
}

/**
 * The agreement of an estimate with the exact effects. Both must cover the same components (the
 * same grid point); a component in one and not the other is an error naming it.
 */
export function effectAgreement(exact: AgreementInput, estimate: AgreementInput): EffectAgreement {
  const byKey = (effects: AgreementInput['effects'], side: string): Map<string, number> => {
    const m = new Map<string, number>();
    for (const e of effects) {
      const key = componentKey(e);
      if (m.has(key)) throw new Error(`effect agreement: component ${e.component} (window ${e.window}) appears twice in the ${side} effects`);
      m.set(key, e.mean);
    }
    return m;
  };
  const a = byKey(exact.effects, 'exact');
  const b = byKey(estimate.effects, 'estimated');
  for (const [x, y, side] of [
    [a, b, 'estimated'],
    [b, a, 'exact'],
  ] as const) {
    for (const key of x.keys()) {
      if (!y.has(key)) throw new Error(`effect agreement: component ${JSON.parse(key)[0]} has no ${side} effect; the runs must cover the same components`);
    }
  }
  const keys = [...a.keys()].sort();
  const xs = keys.map((k) => a.get(k)!);
  const ys = keys.map((k) => b.get(k)!);
  const n = keys.length;
  if (n === 0) throw new Error('effect agreement: the runs have no effects to compare');

  const sameSign = xs.filter((x, i) => Math.sign(x) === Math.sign(ys[i]!)).length;
  const topK = agreementKs(n, exact.detections.length).map((k) => {
    const ta = topKByMagnitude(xs, k);
    const tb = topKByMagnitude(ys, k);
    let shared = 0;
    for (const i of ta) if (tb.has(i)) shared++;
    return { k, shared, fraction: shared / k };
  });

  const detA = new Set(exact.detections.map(componentKey));
  const detB = new Set(estimate.detections.map(componentKey));
  let both = 0;
  for (const d of detA) if (detB.has(d)) both++;

  return {
    n,
    pearson: pearson(xs, ys),
    spearman: spearman(xs, ys),
    signAgreement: sameSign / n,
    topK,
    detections: { exact: detA.size, estimate: detB.size, both, jaccard: jaccard(both, detA.size, detB.size) },
  };
}
