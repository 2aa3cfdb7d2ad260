// The one seeded random module: its stream is mulberry32's (datasets, random models, GN noise and
// random baselines all depend on it staying the same), and its helpers draw what they promise.
import { describe, expect, it } from 'vitest';
import { deriveSeed, Random } from '../../src/core/random.js';

describe('Random', () => {
  it("is mulberry32: seed 1 gives the generator's reference outputs; the same seed, the same draws", () => {
    const r = new Random(1);
    expect(r.uniform()).toBe(0.6270739405881613);
    expect(r.uniform()).toBe(0.002735721180215478);
    const a = new Random(42);
    const b = new Random(42);
    const draws = Array.from({ length: 5 }, () => a.uniform());
    expect(Array.from({ length: 5 }, () => b.uniform())).toEqual(draws);
    for (const x of draws) expect(x >= 0 && x < 1).toBe(true);
    expect(new Random(43).uniform()).not.toBe(draws[0]);
    // Seeds are taken modulo 2^32: a negative seed is its unsigned twin.
    expect(new Random(-1).uint32()).toBe(new Random(0xffffffff).uint32());
    expect(new Random(7).uniform()).toBe(new Random(7).uint32() / 2 ** 32);
  });

  it('derives independent, repeatable stream seeds', () => {
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(1, 1));
    expect(deriveSeed(1, 0)).toBe(deriveSeed(1, 0));
    expect(deriveSeed(2, 0)).not.toBe(deriveSeed(1, 0));
  });

  it('draws standard normals, one at a time or filling an array with both Box-Muller branches', () => {
    const n = 20000;
    const r = new Random(3);
    const xs = Array.from({ length: n }, () => r.normal());
    const mean = xs.reduce((a, x) => a + x, 0) / n;
    const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    // fillNormal's even entries are normal()'s draws (same two uniforms), scaled and shifted.
    const filled = new Float32Array(6);
    new Random(3).fillNormal(filled, 2, 5);
    const again = new Random(3);
    for (let i = 0; i < 6; i += 2) {
      expect(filled[i]).toBeCloseTo(5 + 2 * again.normal(), 5);
    }
    // Both branches are used, and an odd length fills its last entry too.
    const odd = new Float32Array(7);
    new Random(3).fillNormal(odd, 1);
    for (let i = 0; i < 6; i++) expect(odd[i]).toBeCloseTo((filled[i]! - 5) / 2, 5);
    expect(Number.isFinite(odd[6]) && odd[6] !== 0).toBe(true);
  });

  it('draws integers in range, picks, samples distinct items outside the exclusions, from large and small pools', () => {
    const rng = new Random(1);
    const counts = new Array<number>(4).fill(0);
    for (let i = 0; i < 4000; i++) counts[rng.int(4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(900);
    expect(() => rng.pick([])).toThrow('Random.pick: empty list');
    const big = Array.from({ length: 1000 }, (_, i) => i);
    for (const pool of [big, big.slice(0, 12)]) {
      for (let trial = 0; trial < 50; trial++) {
        const sample = rng.sample(pool, 5, new Set([0, 1, 2]));
        expect(new Set(sample).size).toBe(5);
        for (const x of sample) expect(x).toBeGreaterThan(2);
      }
    }
    expect(rng.sample([1, 2, 3], 3).sort()).toEqual([1, 2, 3]);
    expect(() => rng.sample([1, 2, 3], 3, new Set([1]))).toThrow('Random.sample: asked for 3 of 2 items');
  });

  it('shuffleFirst takes a uniform k-sample: every item is first about equally often', () => {
    const firsts = new Array<number>(5).fill(0);
    const rng = new Random(9);
    for (let i = 0; i < 5000; i++) firsts[rng.shuffleFirst([0, 1, 2, 3, 4], 2)[0]!]!++;
    for (const c of firsts) expect(c).toBeGreaterThan(900);
  });
});
