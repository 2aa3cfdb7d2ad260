// Reverse-mode differentiation of ONNX graphs patchwise emits. onnxruntime-node has no autograd, so
// the forward graph is written on a Tape: every op emits its ONNX node through a GraphBuilder and,
// when an input depends on a differentiable graph input, records itself; gradients() then walks the
// records backwards and emits one vector-Jacobian product per op into the same graph.
//
// Why a tape over the builder's nodes rather than hand-written backward layer graphs: one VJP rule
// per op (about fifteen ops) covers GPT-2 and Llama alike (LayerNorm and RMSNorm are written out in
// primitives, GELU, SwiGLU, RoPE and GQA are compositions), so a new architecture feature needs at
// most a new rule, not a new hand-derived backward layer that can silently disagree with its
// forward. Shapes are static (a graph per batch shape): every broadcast a rule must undo is known
// when the graph is built, so no rule needs Shape ops at run time.
import { GraphBuilder } from '../runtime/onnx/builder.js';

export type Shape = readonly number[];

type Rec =
  | { readonly op: 'add' | 'sub' | 'mul' | 'matmul'; readonly a: string; readonly b: string; readonly y: string }
  | { readonly op: 'tanh' | 'sigmoid' | 'neg' | 'sqrt' | 'reciprocal' | 'softmax' | 'reshape'; readonly x: string; readonly y: string }
  | { readonly op: 'reduce'; readonly x: string; readonly y: string; readonly axis: number; readonly keepdims: boolean; readonly mean: boolean }
  | { readonly op: 'transpose'; readonly x: string; readonly y: string; readonly perm: readonly number[] }
  | { readonly op: 'slice'; readonly x: string; readonly y: string; readonly axis: number; readonly start: number; readonly end: number }
  | { readonly op: 'concat'; readonly xs: readonly string[]; readonly y: string; readonly axis: number }
  | { readonly op: 'gelu'; readonly x: string; readonly y: string; readonly onePlusTanh: string; readonly square: string }
  | { readonly op: 'layernorm'; readonly x: string; readonly y: string; readonly weight: string; readonly xhat: string; readonly inv: string };

const size = (s: Shape): number => s.reduce((a, b) => a * b, 1);

/** gelu_new's constants: c = sqrt(2 / pi), k = 0.044715. */
const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_K = 0.044715;

/** numpy broadcasting of two static shapes. */
function broadcast(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`cannot broadcast [${a.join(', ')}] with [${b.join(', ')}]`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

export class Tape {
  readonly g: GraphBuilder;
  private readonly shapes = new Map<string, Shape>();
  private readonly differentiable = new Set<string>();
  private readonly records: Rec[] = [];
  private recording = true;

  constructor(name: string) {
    this.g = new GraphBuilder(name);
  }

  shape(x: string): Shape {
    const s = this.shapes.get(x);
    if (!s) throw new Error(`tape: unknown value ${x}`);
    return s;
  }

  /** A float32 graph input; `differentiable` ones get gradients. */
  input(name: string, shape: Shape, differentiable: boolean): string {
    this.g.input(name, 'float32', shape);
    this.shapes.set(name, shape);
    if (differentiable) this.differentiable.add(name);
    return name;
  }

  /** A model weight (a graph input fed from the model's own array): never differentiated. */
  weight(name: string, data: Float32Array, shape: Shape): string {
    this.g.weight(name, data, shape);
    this.shapes.set(name, shape);
    return name;
  }

  /** A small constant table stored in the graph (rotary tables, the causal mask): never differentiated. */
  table(name: string, data: Float32Array, shape: Shape): string {
    this.g.constant(name, data, shape);
    this.shapes.set(name, shape);
    return name;
  }

  scalar(value: number): string {
    const s = this.g.scalar(value);
    this.shapes.set(s, []);
    return s;
  }

  /**
   * Makes x a graph output through an Identity: the builder would otherwise rename x's producer to
   * `name`, and backward ops emitted later still refer to x by its own name.
   */
  output(x: string, name: string): void {
    this.g.output(this.g.op('Identity', [x]), name, 'float32', this.shape(x));
  }

  /**
   * An op the tape does not differentiate (contractions after the backward pass, Gemm with a
   * transposed operand): emitted with its static output shape, never recorded.
   */
  untaped(opType: string, inputs: readonly string[], shape: Shape, attrs: Record<string, number | number[]> = {}): string {
    return this.emit(opType, inputs, shape, attrs);
  }

  private emit(opType: string, inputs: readonly string[], shape: Shape, attrs: Record<string, number | number[]> = {}): string {
    const y = this.g.op(opType, inputs, attrs);
    this.shapes.set(y, shape);
    return y;
  }

  private record(r: Rec, inputs: readonly string[]): void {
    if (!this.recording || !inputs.some((x) => this.differentiable.has(x))) return;
    this.differentiable.add(r.y);
    this.records.push(r);
  }

  private binary(op: 'add' | 'sub' | 'mul', a: string, b: string): string {
    const onnx = { add: 'Add', sub: 'Sub', mul: 'Mul' }[op];
    const y = this.emit(onnx, [a, b], broadcast(this.shape(a), this.shape(b)));
    this.record({ op, a, b, y }, [a, b]);
    return y;
  }

  add(a: string, b: string): string {
    return this.binary('add', a, b);
  }

  sub(a: string, b: string): string {
    return this.binary('sub', a, b);
  }

  mul(a: string, b: string): string {
    return this.binary('mul', a, b);
  }

  /** numpy matmul of rank >= 2 operands (batch dims broadcast). */
  matmul(a: string, b: string): string {
    const sa = this.shape(a);
    const sb = this.shape(b);
    if (sa.length < 2 || sb.length < 2) throw new Error('tape matmul needs rank >= 2 operands');
    const [m, k] = sa.slice(-2) as [number, number];
    const [k2, n] = sb.slice(-2) as [number, number];
    if (k !== k2) throw new Error(`matmul: [${sa.join(', ')}] x [${sb.join(', ')}]`);
    const y = this.emit('MatMul', [a, b], [...broadcast(sa.slice(0, -2), sb.slice(0, -2)), m, n]);
    this.record({ op: 'matmul', a, b, y }, [a, b]);
    return y;
  }

  private unary(op: 'tanh' | 'sigmoid' | 'neg' | 'sqrt' | 'reciprocal', x: string): string {
    const onnx = { tanh: 'Tanh', sigmoid: 'Sigmoid', neg: 'Neg', sqrt: 'Sqrt', reciprocal: 'Reciprocal' }[op];
    const y = this.emit(onnx, [x], this.shape(x));
    this.record({ op, x, y }, [x]);
    return y;
  }

  tanh(x: string): string {
    return this.unary('tanh', x);
  }

  sigmoid(x: string): string {
    return this.unary('sigmoid', x);
  }

  neg(x: string): string {
    return this.unary('neg', x);
  }

  sqrt(x: string): string {
    return this.unary('sqrt', x);
  }

  reciprocal(x: string): string {
    return this.unary('reciprocal', x);
  }

  /**
   * GPT-2's gelu_new, 0.5 u (1 + tanh(c (u + k u^3))), as one recorded op: its derivative in one
   * rule (below) makes far fewer passes over the MLP's widest tensor than the chain rule through
   * each primitive, and keeps only two of the forward's intermediates.
   */
  gelu(x: string): string {
    const shape = this.shape(x);
    const square = this.emit('Mul', [x, x], shape);
    // c (u + k u^3) = u (c + c k u^2)
    const inner = this.emit('Mul', [x, this.emit('Add', [this.emit('Mul', [square, this.scalar(GELU_C * GELU_K)], shape), this.scalar(GELU_C)], shape)], shape);
    const onePlusTanh = this.emit('Add', [this.emit('Tanh', [inner], shape), this.scalar(1)], shape);
    const y = this.emit('Mul', [this.emit('Mul', [x, this.scalar(0.5)], shape), onePlusTanh], shape);
    this.record({ op: 'gelu', x, y, onePlusTanh, square }, [x]);
    return y;
  }

  /**
   * Layer norm over the last axis as one ONNX LayerNormalization (one pass, where the primitives
   * made about seven), with x^ = (x - mean) inv and inv = 1 / sqrt(var + eps) returned for callers
   * that rebuild a norm's backward themselves; its derivative is one rule (below).
   */
  layerNorm(x: string, weight: string, bias: string | undefined, eps: number): { y: string; xhat: string; inv: string } {
    const shape = this.shape(x);
    const stats = shape.map((d, i) => (i === shape.length - 1 ? 1 : d));
    const [y, mean, inv] = this.g.opOutputs('LayerNormalization', bias ? [x, weight, bias] : [x, weight], 3, { axis: -1, epsilon: { float: eps } });
    this.shapes.set(y!, shape);
    this.shapes.set(mean!, stats);
    this.shapes.set(inv!, stats);
    const xhat = this.emit('Mul', [this.emit('Sub', [x, mean!], shape), inv!], shape);
    this.record({ op: 'layernorm', x, y: y!, weight, xhat, inv: inv! }, [x]);
    return { y: y!, xhat, inv: inv! };
  }

  /** Softmax over the last axis. */
  softmax(x: string): string {
    const y = this.emit('Softmax', [x], this.shape(x), { axis: -1 });
    this.record({ op: 'softmax', x, y }, [x]);
    return y;
  }

  /** Sum (or mean) over one axis. */
  reduce(x: string, axis: number, keepdims: boolean, mean = false): string {
    const s = this.shape(x);
    const ax = axis < 0 ? s.length + axis : axis;
    const shape = keepdims ? s.map((d, i) => (i === ax ? 1 : d)) : s.filter((_, i) => i !== ax);
    const y = mean ? this.emit('ReduceMean', [x], shape, { axes: [ax], keepdims: keepdims ? 1 : 0 }) : this.emit('ReduceSum', [x, this.g.ints([ax])], shape, { keepdims: keepdims ? 1 : 0 });
    this.record({ op: 'reduce', x, y, axis: ax, keepdims, mean }, [x]);
    return y;
  }

  transpose(x: string, perm: readonly number[]): string {
    const s = this.shape(x);
    const y = this.emit(
      'Transpose',
      [x],
      perm.map((p) => s[p]!),
      { perm: [...perm] },
    );
    this.record({ op: 'transpose', x, y, perm }, [x]);
    return y;
  }

  reshape(x: string, shape: Shape): string {
    if (size(shape) !== size(this.shape(x))) throw new Error(`reshape [${this.shape(x).join(', ')}] to [${shape.join(', ')}]`);
    const y = this.emit('Reshape', [x, this.g.ints(shape)], shape);
    this.record({ op: 'reshape', x, y }, [x]);
    return y;
  }

  /** x[..., start:end, ...] on one axis. */
  slice(x: string, axis: number, start: number, end: number): string {
    const s = this.shape(x);
    const ax = axis < 0 ? s.length + axis : axis;
    const y = this.emit(
      'Slice',
      [x, this.g.ints([start]), this.g.ints([end]), this.g.ints([ax])],
      s.map((d, i) => (i === ax ? end - start : d)),
    );
    this.record({ op: 'slice', x, y, axis: ax, start, end }, [x]);
    return y;
  }

  concat(xs: readonly string[], axis: number): string {
    const s0 = this.shape(xs[0]!);
    const ax = axis < 0 ? s0.length + axis : axis;
    const total = xs.reduce((a, x) => a + this.shape(x)[ax]!, 0);
    const y = this.emit(
      'Concat',
      xs,
      s0.map((d, i) => (i === ax ? total : d)),
      { axis: ax },
    );
    this.record({ op: 'concat', xs, y, axis: ax }, xs);
    return y;
  }

  /** Sums a gradient of shape `from` down to `to` (undoing a broadcast). */
  private unbroadcast(gy: string, to: Shape): string {
    const from = this.shape(gy);
    if (from.length === to.length && from.every((d, i) => d === to[i])) return gy;
    const lead = from.length - to.length;
    const axes: number[] = [];
    from.forEach((d, i) => {
      if (i < lead || (to[i - lead] === 1 && d !== 1)) axes.push(i);
    });
    let r = gy;
    if (axes.length > 0)
      r = this.emit(
        'ReduceSum',
        [gy, this.g.ints(axes)],
        from.map((d, i) => (axes.includes(i) ? 1 : d)),
        { keepdims: 1 },
      );
    return this.reshape(r, to);
  }

  private swapLast(x: string): string {
    const n = this.shape(x).length;
    return this.transpose(x, [...Array(n - 2).keys(), n - 1, n - 2]);
  }

  /** Broadcasts x to `shape` (static Expand). */
  private expand(x: string, shape: Shape): string {
    return this.emit('Expand', [x, this.g.ints(shape)], shape);
  }

  /**
   * Emits the gradients of sum(y * seed) with respect to each of `wrt` (differentiable inputs);
   * `seed` has y's shape. An input y does not depend on gets zeros.
   */
  gradients(y: string, seed: string, wrt: readonly string[]): string[] {
    this.recording = false;
    // Only values downstream of a requested input carry a gradient anyone reads: the VJPs into
    // anything else (e.g. the graph's first layer, below every requested input) are not emitted.
    const needed = new Set(wrt);
    const inputsOf = (r: Rec): readonly string[] => ('xs' in r ? r.xs : 'a' in r ? [r.a, r.b] : [r.x]);
    for (const r of this.records) if (inputsOf(r).some((x) => needed.has(x))) needed.add(r.y);
    const grads = new Map<string, string>([[y, seed]]);
    const accumulate = (x: string, gx: string): void => {
      if (!needed.has(x)) return;
      const prev = grads.get(x);
      grads.set(x, prev === undefined ? gx : this.add(prev, gx));
    };
    for (let i = this.records.length - 1; i >= 0; i--) {
      const r = this.records[i]!;
      const gy = grads.get(r.y);
      if (gy === undefined || !inputsOf(r).some((x) => needed.has(x))) continue;
      switch (r.op) {
        case 'add':
          if (needed.has(r.a)) accumulate(r.a, this.unbroadcast(gy, this.shape(r.a)));
          if (needed.has(r.b)) accumulate(r.b, this.unbroadcast(gy, this.shape(r.b)));
          break;
        case 'sub':
          if (needed.has(r.a)) accumulate(r.a, this.unbroadcast(gy, this.shape(r.a)));
          if (needed.has(r.b)) accumulate(r.b, this.neg(this.unbroadcast(gy, this.shape(r.b))));
          break;
        case 'mul':
          if (needed.has(r.a)) accumulate(r.a, this.unbroadcast(this.mul(gy, r.b), this.shape(r.a)));
          if (needed.has(r.b)) accumulate(r.b, this.unbroadcast(this.mul(gy, r.a), this.shape(r.b)));
          break;
        case 'matmul':
          if (needed.has(r.a)) accumulate(r.a, this.unbroadcast(this.matmul(gy, this.swapLast(r.b)), this.shape(r.a)));
          if (needed.has(r.b)) accumulate(r.b, this.unbroadcast(this.matmul(this.swapLast(r.a), gy), this.shape(r.b)));
          break;
        case 'tanh': // 1 - y^2
          accumulate(r.x, this.sub(gy, this.mul(gy, this.mul(r.y, r.y))));
          break;
        case 'sigmoid': // y (1 - y)
          accumulate(r.x, this.mul(gy, this.sub(r.y, this.mul(r.y, r.y))));
          break;
        case 'neg':
          accumulate(r.x, this.neg(gy));
          break;
        case 'sqrt': // 1 / (2 y)
          accumulate(r.x, this.mul(this.mul(gy, this.reciprocal(r.y)), this.scalar(0.5)));
          break;
        case 'reciprocal': // -y^2
          accumulate(r.x, this.neg(this.mul(gy, this.mul(r.y, r.y))));
          break;
        case 'gelu': {
          // d/du = 0.5 ((1 + t) + u (1 - t^2) (c + 3 c k u^2)), t = tanh(c (u + k u^3)); 1 - t^2 = (1 + t)(2 - (1 + t)).
          const shape = this.shape(r.x);
          const sech2 = this.emit('Mul', [r.onePlusTanh, this.emit('Sub', [this.scalar(2), r.onePlusTanh], shape)], shape);
          const slope = this.emit('Add', [this.emit('Mul', [r.square, this.scalar(3 * GELU_C * GELU_K)], shape), this.scalar(GELU_C)], shape);
          const twice = this.emit('Add', [r.onePlusTanh, this.emit('Mul', [this.emit('Mul', [r.x, sech2], shape), slope], shape)], shape);
          accumulate(r.x, this.emit('Mul', [this.emit('Mul', [gy, twice], shape), this.scalar(0.5)], shape));
          break;
        }
        case 'layernorm': {
          // dx = inv (g - mean(g) - x^ mean(g x^)), g = gy w
          const shape = this.shape(r.x);
          const g = this.emit('Mul', [gy, r.weight], shape);
          const stats = shape.map((d, i) => (i === shape.length - 1 ? 1 : d));
          const mean = (v: string): string => this.emit('ReduceMean', [v], stats, { axes: [shape.length - 1], keepdims: 1 });
          const centred = this.emit('Sub', [g, mean(g)], shape);
          const dx = this.emit('Sub', [centred, this.emit('Mul', [r.xhat, mean(this.emit('Mul', [g, r.xhat], shape))], shape)], shape);
          accumulate(r.x, this.emit('Mul', [dx, r.inv], shape));
          break;
        }
        case 'softmax': // y (gy - sum(gy y))
          accumulate(r.x, this.mul(r.y, this.sub(gy, this.reduce(this.mul(gy, r.y), -1, true))));
          break;
        case 'reduce': {
          const sx = this.shape(r.x);
          const kept = r.keepdims
            ? gy
            : this.reshape(
                gy,
                sx.map((d, i) => (i === r.axis ? 1 : d)),
              );
          const spread = this.expand(kept, sx);
          accumulate(r.x, r.mean ? this.mul(spread, this.scalar(1 / sx[r.axis]!)) : spread);
          break;
        }
        case 'transpose': {
          const inverse = new Array<number>(r.perm.length);
          r.perm.forEach((p, i) => (inverse[p] = i));
          accumulate(r.x, this.transpose(gy, inverse));
          break;
        }
        case 'reshape':
          accumulate(r.x, this.reshape(gy, this.shape(r.x)));
          break;
        case 'slice': {
          const sx = this.shape(r.x);
          const pads = new Array<number>(2 * sx.length).fill(0);
          pads[r.axis] = r.start;
          pads[sx.length + r.axis] = sx[r.axis]! - r.end;
          accumulate(r.x, this.emit('Pad', [gy, this.g.ints(pads)], sx));
          break;
        }
        case 'concat': {
          let at = 0;
          for (const x of r.xs) {
            const n = this.shape(x)[r.axis]!;
            if (needed.has(x)) accumulate(x, this.slice(gy, r.axis, at, at + n));
            at += n;
          }
          break;
        }
      }
    }
    this.recording = true;
    return wrt.map((x) => grads.get(x) ?? this.expand(this.scalar(0), this.shape(x)));
  }
}
