// Rearrangements between file layouts and the internal per-head layout of types.ts. Each function
// is one copy of its input; the loaders and writers are compositions of these.

/** Row-major [rows, cols] -> [cols, rows]. Blocked so that neither side strides through memory. */
export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const rowOff = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = src[rowOff + c]!;
      }
    }
  }
  return out;
}

/**
 * The GGUF -> half-split RoPE permutation within one head: internal dim j comes from stored row
 * `interleavedSource(j)`. GGUF rotates pairs (2i, 2i+1); the internal layout rotates (i, i + d/2).
 */
export function interleavedSource(j: number, dHead: number): number {
  const half = dHead / 2;
  return j < half ? 2 * j : 2 * (j - half) + 1;
}

/**
 * A Linear weight [nHeads * dHead, dIn] (out x in, rows grouped by head) -> [nHeads, dIn, dHead],
 * so that x @ out[h] is head h's projection. `rowOf` reorders rows within a head (RoPE layouts).
 */
export function linearRowsToHeads(w: Float32Array, nHeads: number, dHead: number, dIn: number, rowOf: (j: number) => number = (j) => j): Float32Array {
  const out = new Float32Array(nHeads * dIn * dHead);
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < dHead; j++) {
      const src = (h * dHead + rowOf(j)) * dIn;
      const dst = h * dIn * dHead + j;
      for (let i = 0; i < dIn; i++) out[dst + i * dHead] = w[src + i]!;
    }
  }
  return out;
}

/** Inverse of linearRowsToHeads without reordering: [nHeads, dIn, dHead] -> [nHeads * dHead, dIn]. */
export function headsToLinearRows(w: Float32Array, nHeads: number, dHead: number, dIn: number): Float32Array {
  const out = new Float32Array(nHeads * dIn * dHead);
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < dHead; j++) {
      const dst = (h * dHead + j) * dIn;
      const src = h * dIn * dHead + j;
      for (let i = 0; i < dIn; i++) out[dst + i] = w[src + i * dHead]!;
    }
  }
  return out;
}

/** Reorders a per-head bias [nHeads * dHead] the same way as linearRowsToHeads reorders rows. */
export function permuteHeadBias(b: Float32Array, nHeads: number, dHead: number, rowOf: (j: number) => number): Float32Array {
  const out = new Float32Array(nHeads * dHead);
  for (let h = 0; h < nHeads; h++) for (let j = 0; j < dHead; j++) out[h * dHead + j] = b[h * dHead + rowOf(j)]!;
  return out;
}

/**
 * Columns [colOffset, colOffset + nHeads * dHead) of a Conv1D weight [dIn, ld] (in x out) ->
 * [nHeads, dIn, dHead]. GPT-2's c_attn packs q | k | v along the columns, heads contiguous in each.
 */
export function conv1dColsToHeads(w: Float32Array, dIn: number, ld: number, colOffset: number, nHeads: number, dHead: number): Float32Array {
  const out = new Float32Array(nHeads * dIn * dHead);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < dIn; i++) {
      const src = i * ld + colOffset + h * dHead;
      out.set(w.subarray(src, src + dHead), (h * dIn + i) * dHead);
    }
  }
  return out;
}

/** Inverse of conv1dColsToHeads: writes [nHeads, dIn, dHead] into columns of `dst` [dIn, ld]. */
export function headsToConv1dCols(w: Float32Array, dst: Float32Array, dIn: number, ld: number, colOffset: number, nHeads: number, dHead: number): void {
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < dIn; i++) {
      const src = (h * dIn + i) * dHead;
      dst.set(w.subarray(src, src + dHead), i * ld + colOffset + h * dHead);
    }
  }
}

/** True when two arrays hold the same bits (so -0 differs from 0 and equal NaNs match). */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
