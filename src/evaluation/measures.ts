// Two measures every part of patchwise reports the same way: the overlap of two sets (Jaccard) and
// the area under an ROC curve. Pure arithmetic (no Node or DOM APIs): the viewer imports it too.

/** The Jaccard index |A and B| / |A or B| from the counts |A and B|, |A| and |B|; 1 when both are empty (equal sets). */
export function jaccard(nBoth: number, nA: number, nB: number): number {
  const union = nA + nB - nBoth;
  return union === 0 ? 1 : nBoth / union;
}

/** The Jaccard index of two sets. */
export function setJaccard<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): number {
  let both = 0;
  for (const x of a) if (b.has(x)) both++;
  return jaccard(both, a.size, b.size);
}

/**
 * Area under ROC points by the trapezoid rule, the curve closed with (0, 0) and (1, 1) (ACDC's
 * convention; points sorted by FPR, then TPR, used as measured: no convex hull).
 */
export function trapezoidAuc(points: readonly { readonly fpr: number; readonly tpr: number }[]): number {
  const pts = [{ fpr: 0, tpr: 0 }, ...points, { fpr: 1, tpr: 1 }].sort((a, b) => a.fpr - b.fpr || a.tpr - b.tpr);
  let area = 0;
  for (let i = 1; i < pts.length; i++) area += ((pts[i]!.fpr - pts[i - 1]!.fpr) * (pts[i]!.tpr + pts[i - 1]!.tpr)) / 2;
  return area;
}

/** MIB's circuit sizes: fractions of the graph's edges kept (0.1 % to 100 %). */
export const MIB_FRACTIONS: readonly number[] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];

/**
 * MIB's areas over a faithfulness curve sampled at fractions x (ascending) of the edges kept:
 * trapezoids on a linear x axis between consecutive points, no closing points, so the x range is
 * x[0]..x[last] (0.001..1 for MIB_FRACTIONS). `under`: area under f (CPR when edges are ranked by
 * signed score); `fromOne`: area under |1 - f| (CMD when ranked by |score|).
 */
export function mibAreas(fractions: readonly number[], faithfulness: readonly number[]): { under: number; fromOne: number } {
  if (fractions.length !== faithfulness.length) throw new Error(`mibAreas: ${fractions.length} fractions but ${faithfulness.length} faithfulness values`);
  let under = 0;
  let fromOne = 0;
  for (let i = 1; i < fractions.length; i++) {
    const dx = fractions[i]! - fractions[i - 1]!;
    under += (dx * (faithfulness[i - 1]! + faithfulness[i]!)) / 2;
    fromOne += (dx * (Math.abs(1 - faithfulness[i - 1]!) + Math.abs(1 - faithfulness[i]!))) / 2;
  }
  return { under, fromOne };
}
