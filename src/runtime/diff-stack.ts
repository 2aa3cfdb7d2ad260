// The stack of sender differences (patch source minus this run's outputs), [K, S, B, T, d], that a
// patched run with edge entries reads. One is kept between runs: a fresh array of this size (386 MB
// on GPT-2 small with 50 x 16 tokens) costs page faults on every run. Its rows before a run's first
// recomputed layer are src - base, the same in every run of one pair of caches: they are made again
// only for a new pair, or where an earlier run overwrote them with its own layers' differences
// (ACDC, which walks from the last layers to the first, almost never needs them again).
import type { SenderCache } from './cache.js';
import type { SenderRows } from './sender-rows.js';

export class DiffStack {
  readonly data: Float32Array;
  /** The pair of caches whose differences rows [0, valid) of every configuration hold. */
  private pair: { readonly src: WeakRef<SenderCache>; readonly base: WeakRef<SenderCache> } | undefined;
  private valid = 0;
  /** Where `rows` copies rows out to, kept between layers and runs (a fresh array costs page faults each time). */
  private scratch = new Float32Array(0);

  constructor(
    readonly k: number,
    readonly nSenders: number,
    /** Values per sender row: B x T x d. */
    readonly rowSize: number,
  ) {
    this.data = new Float32Array(k * nSenders * rowSize);
  }

  /**
   * Makes rows [0, upTo) of every configuration src - base; the caller's run then owns every row
   * from upTo on (its layers write them before anything reads them).
   */
  async prepare(rows: SenderRows, src: SenderCache, base: SenderCache, upTo: number): Promise<void> {
    if (this.pair?.src.deref() !== src || this.pair.base.deref() !== base) {
      this.pair = { src: new WeakRef(src), base: new WeakRef(base) };
      this.valid = 0;
    }
    const X = this.rowSize;
    const slab = this.nSenders * X;
    if (this.valid < upTo) {
      await rows.differences(src, base, this.valid, upTo, this.data, 0);
      for (let k = 1; k < this.k; k++) this.data.copyWithin(k * slab + this.valid * X, this.valid * X, upTo * X);
    }
    this.valid = upTo;
  }

  /**
   * Rows `rows` (ascending) of the first kc configurations as [kc, n, B, T, d]: a view when kc is 1
   * and the rows are consecutive, else a copy. A copy lives in the stack's scratch and is valid
   * until the next call (a layer's run reads it before another is built).
   */
  rows(kc: number, rows: readonly number[]): Float32Array {
    const X = this.rowSize;
    const S = this.nSenders;
    const n = rows.length;
    const first = rows[0]!;
    const consecutive = rows[n - 1]! - first === n - 1;
    if (consecutive && kc === 1) return this.data.subarray(first * X, (first + n) * X);
    const size = kc * n * X;
    // Kept only up to a bound: a wide K x S copy (node sweeps) would otherwise stay resident.
    const out = size <= this.scratch.length ? this.scratch.subarray(0, size) : new Float32Array(size);
    if (size > this.scratch.length && size <= MAX_SCRATCH) this.scratch = out;
    for (let k = 0; k < kc; k++) {
      if (consecutive) out.set(this.data.subarray((k * S + first) * X, (k * S + first + n) * X), k * n * X);
      else rows.forEach((s, i) => out.set(this.data.subarray((k * S + s) * X, (k * S + s + 1) * X), (k * n + i) * X));
    }
    return out;
  }
}

/** The largest copy of rows a stack keeps for reuse, in floats (128 MB). */
const MAX_SCRATCH = 32 * 1024 * 1024;

/** Keeps one spare stack: runs one after another reuse it; concurrent runs get their own. */
export class DiffStacks {
  private spare: DiffStack | undefined;

  constructor(private readonly rows: SenderRows) {}

  async acquire(k: number, nSenders: number, rowSize: number, src: SenderCache, base: SenderCache, upTo: number): Promise<DiffStack> {
    let stack = this.spare;
    if (stack && stack.k === k && stack.nSenders === nSenders && stack.rowSize === rowSize) this.spare = undefined;
    else stack = new DiffStack(k, nSenders, rowSize);
    await stack.prepare(this.rows, src, base, upTo);
    return stack;
  }

  /** Gives a stack back after its run (it replaces any spare of another size). */
  release(stack: DiffStack): void {
    this.spare = stack;
  }

  clear(): void {
    this.spare = undefined;
  }
}
