// The one seeded random source of patchwise: mulberry32, a tiny well-mixed 32-bit PRNG, so that the
// same seed gives the same datasets, random models, noise and baselines on every machine and Node
// version (Math.random cannot be seeded); normals by Box-Muller. Pure: the viewer may import it.

export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next raw 32-bit output, an integer in [0, 2^32). */
  uint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), this.state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform float in [0, 1). */
  uniform(): number {
    return this.uint32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A standard normal sample: Box-Muller's cosine branch, from two uniforms. */
  normal(): number {
    // 1 - u is in (0, 1]: the log stays finite.
    return Math.sqrt(-2 * Math.log(1 - this.uniform())) * Math.cos(2 * Math.PI * this.uniform());
  }

  /**
   * Fills `out` with mean + std * N(0, 1), using both Box-Muller branches (two normals per pair of
   * uniforms); the generator is inlined because gpt2-xl's random init needs 1.5 billion samples.
   */
  fillNormal(out: Float32Array, std: number, mean = 0): void {
    let a = this.state;
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const u1 = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      a = (a + 0x6d2b79f5) | 0;
      t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const u2 = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      const r = std * Math.sqrt(-2 * Math.log(1 - u1));
      const theta = 2 * Math.PI * u2;
      out[i] = mean + r * Math.cos(theta);
      if (i + 1 < n) out[i + 1] = mean + r * Math.sin(theta);
    }
    this.state = a;
  }

  /** A uniform element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Random.pick: empty list');
    return items[this.int(items.length)] as T;
  }

  /** `k` different elements of `items` (a list without repeats), none in `exclude`, in random order. */
  sample<T>(items: readonly T[], k: number, exclude: ReadonlySet<T> = new Set()): T[] {
    const chosen = new Set<T>();
    const out: T[] = [];
    // Rejection sampling is cheap while k is small next to the pool; a partial shuffle otherwise.
    if (items.length >= 4 * (k + exclude.size)) {
      while (out.length < k) {
        const item = this.pick(items);
        if (chosen.has(item) || exclude.has(item)) continue;
        chosen.add(item);
        out.push(item);
      }
      return out;
    }
    const pool = [...new Set(items)].filter((item) => !exclude.has(item));
    if (pool.length < k) throw new Error(`Random.sample: asked for ${k} of ${pool.length} items`);
    return this.shuffleFirst(pool, k);
  }

  /** Shuffles the first `k` entries of `items` in place (partial Fisher-Yates: a uniform k-sample) and returns them. */
  shuffleFirst<T>(items: T[], k: number): T[] {
    for (let i = 0; i < k; i++) {
      const j = i + this.int(items.length - i);
      const item = items[j] as T;
      items[j] = items[i] as T;
      items[i] = item;
    }
    return items.slice(0, k);
  }
}

/**
 * A seed for an independent stream derived from `seed` (a 32-bit mix), so that e.g. the clean
 * prompts do not change when only the corruption draws differ.
 */
export function deriveSeed(seed: number, stream: number): number {
  let h = Math.imul((seed >>> 0) ^ Math.imul(stream + 1, 0x9e3779b9), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
