// Transformer building blocks emitted as ONNX nodes. Each helper takes value names and returns the
// name of its result; shapes in comments use K (mask configs), H (heads), B (prompts), T (positions).
import type { GraphBuilder } from './builder.js';

/** A 1-D int64 tensor of length 1 holding dimension `axis` of `x` (dynamic shapes). */
export function dimOf(g: GraphBuilder, x: string, axis: number): string {
  return g.op('Shape', [x], { start: axis, end: axis + 1 });
}

/** A shape vector from fixed sizes and 1-element dynamic dims (from dimOf). */
export function shapeVec(g: GraphBuilder, parts: readonly (number | string)[]): string {
  if (parts.every((p) => typeof p === 'number')) return g.ints(parts as number[]);
  return g.op(
    'Concat',
    parts.map((p) => (typeof p === 'number' ? g.ints([p]) : p)),
    { axis: 0 },
  );
}

export function reshape(g: GraphBuilder, x: string, parts: readonly (number | string)[]): string {
  return g.op('Reshape', [x, shapeVec(g, parts)]);
}

export function transpose(g: GraphBuilder, x: string, perm: readonly number[]): string {
  return g.op('Transpose', [x], { perm: [...perm] });
}

export interface NormParams {
  readonly kind: 'layernorm' | 'rmsnorm';
  readonly weight: string;
  readonly bias?: string;
  readonly eps: number;
}

/** LayerNorm (biased variance) or RMSNorm over the last axis. */
export function norm(g: GraphBuilder, x: string, p: NormParams): string {
  if (p.kind === 'layernorm') {
    const inputs = p.bias ? [x, p.weight, p.bias] : [x, p.weight];
    return g.op('LayerNormalization', inputs, { axis: -1, epsilon: { float: p.eps } });
  }
  // RMSNorm written out: opset 17 has no RMSNormalization op.
  const meanSq = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
  const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSq, g.scalar(p.eps)])])]);
  return g.op('Mul', [g.op('Mul', [x, inv]), p.weight]);
}

/** GPT-2's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluNew(g: GraphBuilder, x: string): string {
  const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
  const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [x3, g.scalar(0.044715)])]), g.scalar(Math.sqrt(2 / Math.PI))]);
  const t = g.op('Add', [g.op('Tanh', [inner]), g.scalar(1)]);
  return g.op('Mul', [g.op('Mul', [x, t]), g.scalar(0.5)]);
}

export function silu(g: GraphBuilder, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [x])]);
}

/** Additive causal mask [T, T]: 0 where key <= query, -1e9 above the diagonal. */
export function causalMask(g: GraphBuilder, seqLen: string): string {
  const t = g.op('Squeeze', [seqLen, g.ints([0])]);
  const range = g.op('Range', [g.intScalar(0), t, g.intScalar(1)]);
  const rows = g.op('Unsqueeze', [range, g.ints([1])]);
  const cols = g.op('Unsqueeze', [range, g.ints([0])]);
  const future = g.op('Less', [rows, cols]);
  return g.op('Where', [future, g.scalar(-1e9), g.scalar(0)]);
}

/**
 * Rotary embedding in the half-split layout on x [..., T, dHead]: pair i is (i, i + dHead/2),
 * rotated by angle t * theta^(-2i/dHead). cos/sin are [maxT, dHead] tables sliced to T.
 */
export function rope(g: GraphBuilder, x: string, cos: string, sin: string, seqLen: string, dHead: number): string {
  const c = g.op('Slice', [cos, g.ints([0]), seqLen, g.ints([0])]);
  const s = g.op('Slice', [sin, g.ints([0]), seqLen, g.ints([0])]);
  const half = dHead / 2;
  const x1 = g.op('Slice', [x, g.ints([0]), g.ints([half]), g.ints([-1])]);
  const x2 = g.op('Slice', [x, g.ints([half]), g.ints([dHead]), g.ints([-1])]);
  const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
  return g.op('Add', [g.op('Mul', [x, c]), g.op('Mul', [rotated, s])]);
}

export function ropeTables(maxT: number, dHead: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const cos = new Float32Array(maxT * dHead);
  const sin = new Float32Array(maxT * dHead);
  const half = dHead / 2;
  for (let t = 0; t < maxT; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t * theta ** ((-2 * i) / dHead);
      cos[t * dHead + i] = cos[t * dHead + i + half] = Math.cos(angle);
      sin[t * dHead + i] = sin[t * dHead + i + half] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
