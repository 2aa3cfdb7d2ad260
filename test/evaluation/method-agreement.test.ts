// Agreement of estimated node effects with exact ones, on numbers small enough to check by hand.
import { describe, expect, it } from 'vitest';
import { agreementKs, averageRanks, effectAgreement, pearson, spearman, topKByMagnitude } from '../../src/evaluation/method-agreement.js';

const head = (layer: number, h: number, mean: number) => ({ component: `a${layer}.h${h}`, layer, head: h, position: null, window: 1, mean });

describe('correlations', () => {
  it('pearson: by hand', () => {
    // a = 1, 2, 3 (mean 2), b = 1, 3, 2 (mean 2): deviations (-1, 0, 1) and (-1, 1, 0):
    // sum ab = 1, sum a^2 = 2, sum b^2 = 2 -> 1 / 2.
    expect(pearson([1, 2, 3], [1, 3, 2])).toBeCloseTo(0.5, 15);
    expect(pearson([1, 2, 3], [2, 4, 6])).toBe(1);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBe(-1);
    // Undefined: one value, or a constant side.
    expect(pearson([1], [2])).toBeNull();
    expect(pearson([1, 2, 3], [5, 5, 5])).toBeNull();
    expect(() => pearson([1, 2], [1])).toThrow('2 values against 1');
  });

  it('average ranks and spearman: ties share their mean rank', () => {
    expect(averageRanks([10, 30, 20, 30])).toEqual([1, 3.5, 2, 3.5]);
    // Monotone but not linear: Spearman 1, Pearson below 1.
    expect(spearman([1, 2, 3, 4], [1, 8, 27, 64])).toBe(1);
    expect(pearson([1, 2, 3, 4], [1, 8, 27, 64])!).toBeLessThan(1);
    // Ranks (1, 2, 3) against (1, 2.5, 2.5): deviations (-1, 0, 1) and (-1, 0.5, 0.5):
    // sum ab = 1.5, sum a^2 = 2, sum b^2 = 1.5 -> 1.5 / sqrt(3) = sqrt(3) / 2.
    expect(spearman([1, 2, 3], [0, 7, 7])).toBeCloseTo(Math.sqrt(3) / 2, 15);
  });
});

describe('top k', () => {
  it('ranks by |value|, ties to the earlier index', () => {
    expect([...topKByMagnitude([0.1, -5, 3, -3, 0], 2)].sort()).toEqual([1, 2]);
    expect([...topKByMagnitude([0.1, -5, 3, -3, 0], 3)].sort()).toEqual([1, 2, 3]);
  });

  it('compares 5, 10 and 20 below n, and the exact detection count', () => {
    expect(agreementKs(30, 2)).toEqual([2, 5, 10, 20]);
    expect(agreementKs(10, 5)).toEqual([5]);
    expect(agreementKs(10, 0)).toEqual([5]);
    expect(agreementKs(4, 4)).toEqual([]);
    expect(agreementKs(4, 1)).toEqual([1]);
  });
});

describe('effectAgreement', () => {
  // Six heads. Exact: 4, -2, 1, 0.5, 0, -0.1. Estimate: 3, 1, 2, 0.5, 0, 0.2.
  const exactMeans = [4, -2, 1, 0.5, 0, -0.1];
  const estimateMeans = [3, 1, 2, 0.5, 0, 0.2];
  const coords = [head(0, 0, 0), head(0, 1, 0), head(0, 2, 0), head(1, 0, 0), head(1, 1, 0), head(1, 2, 0)];
  const exact = { effects: coords.map((c, i) => ({ ...c, mean: exactMeans[i]! })), detections: [coords[0]!, coords[1]!] };
  // Listed in another order: matched by component, not by position in the list.
  const estimate = { effects: coords.map((c, i) => ({ ...c, mean: estimateMeans[i]! })).reverse(), detections: [coords[0]!, coords[2]!] };

  it('matches components and computes every measure', () => {
    const r = effectAgreement(exact, estimate);
    expect(r.n).toBe(6);
    expect(r.pearson).toBeCloseTo(pearson(exactMeans, estimateMeans)!, 15);
    expect(r.spearman).toBeCloseTo(spearman(exactMeans, estimateMeans)!, 15);
    // Same sign: a0.h0 (+,+), a0.h2 (+,+), a1.h0 (+,+), a1.h1 (0,0); not a0.h1 (-,+), a1.h2 (-,+).
    expect(r.signAgreement).toBeCloseTo(4 / 6, 15);
    // Top 2 by |effect|: exact {a0.h0, a0.h1}, estimate {a0.h0, a0.h2}: 1 shared. Top 5: exact drops
    // a1.h1 (0), estimate drops a1.h1 (0): all 5 shared.
    expect(r.topK).toEqual([
      { k: 2, shared: 1, fraction: 0.5 },
      { k: 5, shared: 5, fraction: 1 },
    ]);
    // Detected: {a0.h0, a0.h1} and {a0.h0, a0.h2}: one shared of three -> Jaccard 1/3.
    expect(r.detections).toEqual({ exact: 2, estimate: 2, both: 1, jaccard: 1 / 3 });
  });

  it('pearson and spearman by hand on the same numbers', () => {
    // Exact mean 3.4/6, estimate mean 6.7/6; check the library against a direct float64 sum.
    const ma = exactMeans.reduce((s, x) => s + x, 0) / 6;
    const mb = estimateMeans.reduce((s, x) => s + x, 0) / 6;
    let sab = 0;
    let saa = 0;
    let sbb = 0;
    exactMeans.forEach((x, i) => {
      sab += (x - ma) * (estimateMeans[i]! - mb);
      saa += (x - ma) ** 2;
      sbb += (estimateMeans[i]! - mb) ** 2;
    });
    expect(effectAgreement(exact, estimate).pearson).toBeCloseTo(sab / Math.sqrt(saa * sbb), 14);
    // Ranks: exact (6, 1, 5, 4, 3, 2), estimate (6, 4, 5, 3, 1, 2): sum of squared rank
    // differences 0 + 9 + 0 + 1 + 4 + 0 = 14, no ties -> 1 - 6 * 14 / (6 * 35) = 0.6.
    expect(effectAgreement(exact, estimate).spearman).toBeCloseTo(0.6, 14);
  });

  it('refuses runs over different components, and empty ones', () => {
    const fewer = { effects: estimate.effects.slice(0, -1), detections: [] }; // drops a0.h0 (the list is reversed)
    expect(() => effectAgreement(exact, fewer)).toThrow('component a0.h0 has no estimated effect');
    expect(() => effectAgreement(fewer, exact)).toThrow('component a0.h0 has no exact effect');
    const twice = { effects: [...exact.effects, exact.effects[0]!], detections: [] };
    expect(() => effectAgreement(twice, estimate)).toThrow('a0.h0 (window 1) appears twice in the exact effects');
    expect(() => effectAgreement({ effects: [], detections: [] }, { effects: [], detections: [] })).toThrow('no effects to compare');
  });
});
