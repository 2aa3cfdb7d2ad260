// The mask and row feeds a patched layer takes, made from the edge masks: which sender rows to feed,
// the mask blocks over them, and how a layer's differences go back into the stack. Pure functions
// over flat arrays; patched-pass.ts decides which of them a layer needs.
import type { EdgeMasks } from './masks.js';

/**
 * The sender rows to feed for the `needed` ones (ascending), from a difference stack kd wide: with
 * kd = 1, their whole range when that costs less than copying them out (a view of the stack costs
 * no copy, and the rows between get zero mask entries, each adding a product row for every one of
 * the `receivers` columns: copying a row costs about what 33 such product rows do), else just them;
 * one zero-mask row when none is needed.
 */
export function feedRows(needed: readonly number[], kd: number, receivers: number): readonly number[] {
  if (needed.length === 0) return [0];
  const lo = needed[0]!;
  const span = needed[needed.length - 1]! - lo + 1;
  if (kd === 1 && span * receivers <= needed.length * (receivers + 33)) return Array.from({ length: span }, (_, i) => lo + i);
  return needed;
}

/** M - 1 for the entries of the `kept` senders' rows of a [..., rows.length, n] mask block (all edges: senders before the layer), 0 for the other rows. */
export function keptMinusOne(block: Float32Array, rows: readonly number[], kept: ReadonlySet<number>, n: number): Float32Array {
  const keep = rows.map((s) => kept.has(s));
  const per = rows.length * n;
  for (let i = 0; i < block.length; i++) block[i] = keep[Math.floor((i % per) / n)] ? block[i]! - 1 : 0;
  return block;
}

/** Whether every row of a [rows, n] block holds one value (all n receivers see the same mask column). */
export function sameColumns(block: Float32Array, n: number): boolean {
  for (let i = 0; i < block.length; i += n) {
    for (let j = 1; j < n; j++) if (block[i + j] !== block[i]) return false;
  }
  return true;
}

/** Columns `cols` of a [rows, n] block, as [rows, cols.length]. */
export function selectColumns(block: Float32Array, n: number, cols: readonly number[]): Float32Array {
  const rows = block.length / n;
  const out = new Float32Array(rows * cols.length);
  for (let i = 0; i < rows; i++) cols.forEach((c, j) => (out[i * cols.length + j] = block[i * n + c]!));
  return out;
}

/** Column 0 of a [rows, n] block, as [rows, 1]. */
export function firstColumn(block: Float32Array, n: number): Float32Array {
  const out = new Float32Array(block.length / n);
  for (let i = 0; i < out.length; i++) out[i] = block[i * n]!;
  return out;
}

/**
 * Copies n senders' rows [kOut, n, X] (kOut 1 or K) into rows [first, first + n) of every
 * configuration of a [K, S, X] difference stack.
 */
export function spreadRows(stack: Float32Array, S: number, rows: Float32Array, first: number, n: number, kOut: number, K: number, X: number): void {
  const len = n * X;
  for (let k = 0; k < K; k++) {
    const o = (kOut === 1 ? 0 : k) * len;
    stack.set(rows.subarray(o, o + len), (k * S + first) * X);
  }
}

/** The logits receiver's mask at each gathered position, for the given senders: [K, N, A]. */
export function logitsMask(masks: EdgeMasks, gather: BigInt64Array, seqLen: number, senders: readonly number[]): Float32Array {
  const r = masks.graph.logitsReceiver;
  const N = gather.length;
  const A = senders.length;
  const out = new Float32Array(masks.k * N * A);
  for (let k = 0; k < masks.k; k++) {
    for (let n = 0; n < N; n++) {
      const t = Number(gather[n]!) % seqLen;
      senders.forEach((s, i) => (out[(k * N + n) * A + i] = masks.get(k, s, r, masks.perPosition ? t : undefined)));
    }
  }
  return out;
}

/** Adds w(t) diff to the row [B, T, d] of `out` at `at`, at each position t (0: skipped). */
export function addScaled(out: Float32Array, at: number, w: (t: number) => number, diff: Float32Array, batch: number, seqLen: number, d: number): void {
  for (let t = 0; t < seqLen; t++) {
    const wt = w(t);
    if (wt === 0) continue;
    for (let b = 0; b < batch; b++) {
      const o = (b * seqLen + t) * d;
      for (let i = 0; i < d; i++) out[at + o + i]! += wt * diff[o + i]!;
    }
  }
}
