// A small typed front-end over the ONNX protobuf: we emit graphs ourselves (no Python exporter),
// so every node, initializer and shape of the patchable transformer is visible in TypeScript.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX opset we target; LayerNormalization needs 17. */
export const OPSET = 17;

export type ElemType = 'float32' | 'int64';
const ELEM: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
};

/** A dimension: a fixed size or a symbolic name (batch, seq, ...). */
export type Dim = number | string;

export type AttrValue = number | string | number[] | { float: number } | { ints: number[] };

/** A weight the graph takes as an input: the model's own array, fed with every run. */
export interface WeightInput {
  readonly name: string;
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** A serialised graph and the weights to feed it (none when weights are inline). */
export interface BuiltGraph {
  readonly bytes: Uint8Array;
  readonly weights: readonly WeightInput[];
}

export interface GraphBuilderOptions {
  /**
   * Store weights in the model file (initializers) instead of taking them as inputs. Inputs are the
   * default: every session of a model then reads the one copy of its weights the caller holds, where
   * initializers would give each session its own copy (and a pre-packed one besides).
   */
  readonly inlineWeights?: boolean;
}

/** Builds one ONNX graph. Value names are generated unique; callers pass names around as strings. */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly weightInputs = new Map<string, WeightInput>();
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly constCache = new Map<string, string>();
  /** Values renamed to the graph output that a later output() of the same value must read. */
  private readonly renamed = new Map<string, string>();
  private counter = 0;

  constructor(
    private readonly name: string,
    private readonly opts: GraphBuilderOptions = {},
  ) {}

  private fresh(hint: string): string {
    this.counter += 1;
    return `${hint}_${this.counter}`;
  }

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /**
   * Makes `value` a graph output called `name`. The node that computes it is renamed to write
   * `name` itself, rather than copied through an Identity: onnxruntime then writes it straight into
   * a caller's preallocated output buffer.
   */
  output(value: string, name: string, type: ElemType, dims: readonly Dim[]): void {
    const source = this.renamed.get(value) ?? value;
    const producer = source !== value || value === name ? undefined : this.nodes.find((n) => n.output?.includes(value));
    const isIo = this.inputs.some((i) => i.name === value) || this.outputs.some((o) => o.name === value);
    if (producer && !isIo) {
      for (const n of this.nodes) {
        n.input = n.input?.map((v) => (v === value ? name : v));
        n.output = n.output?.map((v) => (v === value ? name : v));
      }
      this.renamed.set(value, name);
    } else if (source !== name) {
      this.op('Identity', [source], {}, name);
    }
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A float32 model weight: a graph input fed from `data` with every run (or inline, see the options). */
  weight(name: string, data: Float32Array, dims: readonly number[]): string {
    if (this.opts.inlineWeights) return this.constant(name, data, dims);
    checkSize(name, data, dims);
    const known = this.weightInputs.get(name);
    if (known) {
      if (known.data !== data) throw new Error(`weight ${name} was given twice with different data`);
      return name;
    }
    this.weightInputs.set(name, { name, data, dims: [...dims] });
    this.inputs.push(valueInfo(name, 'float32', dims));
    return name;
  }

  /** A float32 constant stored in the model file (small tables that are not model weights). */
  constant(name: string, data: Float32Array, dims: readonly number[]): string {
    checkSize(name, data, dims);
    this.initializers.push({
      name,
      dataType: ELEM.float32,
      dims: [...dims],
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  /** An int64 constant (shapes, axes, indices), deduplicated. */
  ints(values: readonly number[]): string {
    const key = `i:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('const_i64');
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({
      name,
      dataType: ELEM.int64,
      dims: [values.length],
      rawData: new Uint8Array(raw.buffer),
    });
    this.constCache.set(key, name);
    return name;
  }

  /** An int64 scalar (rank 0) constant, deduplicated. */
  intScalar(value: number): string {
    const key = `is:${value}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('const_i64s');
    this.initializers.push({
      name,
      dataType: ELEM.int64,
      dims: [],
      rawData: new Uint8Array(new BigInt64Array([BigInt(value)]).buffer),
    });
    this.constCache.set(key, name);
    return name;
  }

  /** A float32 scalar constant, deduplicated. */
  scalar(value: number): string {
    const key = `f:${value}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('const_f32');
    this.constant(name, new Float32Array([value]), []);
    this.constCache.set(key, name);
    return name;
  }

  /** Adds a node and returns the name of its (first) output. */
  /** An op with several outputs (e.g. LayerNormalization's mean and inverse deviation beside its result). */
  opOutputs(opType: string, inputs: readonly string[], nOutputs: number, attrs: Record<string, AttrValue> = {}): string[] {
    const outs = Array.from({ length: nOutputs }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      input: inputs.map((v) => this.renamed.get(v) ?? v),
      output: outs,
      name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, outName?: string): string {
    const out = outName ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      // A value made a graph output since is read under its output name.
      input: inputs.map((v) => this.renamed.get(v) ?? v),
      output: [out],
      name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** Serialises the graph (inline weights, if any, stay far below protobuf's 2 GiB limit per layer). */
  build(): BuiltGraph {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'patchwise',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return { bytes: onnx.ModelProto.encode(model).finish(), weights: [...this.weightInputs.values()] };
  }
}

function checkSize(name: string, data: Float32Array, dims: readonly number[]): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== data.length) throw new Error(`weight ${name}: shape [${dims.join(', ')}] needs ${expected} values, got ${data.length}`);
}

function valueInfo(name: string, type: ElemType, dims: readonly Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return { name, type: T.FLOAT, f: v };
    return { name, type: T.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.INTS, ints: v.ints };
}
