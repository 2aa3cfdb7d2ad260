// Seeded randomness for dataset generation: mulberry32, a tiny 32-bit PRNG, so that the same seed
// gives the same dataset on every machine and Node version (Math.random cannot be seeded).

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), this.state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A uniform element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty list');
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
    if (pool.length < k) throw new Error(`Rng.sample: asked for ${k} of ${pool.length} items`);
    for (let i = 0; i < k; i++) {
      const j = i + this.int(pool.length - i);
      const item = pool[j] as T;
      pool[j] = pool[i] as T;
      pool[i] = item;
      out.push(item);
    }
    return out;
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
