// A second, separate plain GPT-2 forward in float64 that reads Hugging Face checkpoint tensors by
// their HF names, in HF's Conv1D layout (weights are [in, out], y = x @ W + b; c_attn packs q|k|v
// along the out dimension, head h at columns h*dHead..(h+1)*dHead of each block). It shares nothing
// with the internal representation, so it checks the GPT-2 loader's layout conversions.

export interface HfTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface HfGpt2Config {
  readonly nLayers: number;
  readonly nHeads: number;
  readonly dModel: number;
  /** layer_norm_epsilon */
  readonly eps: number;
  /** n_inner; 4 * dModel when absent, as in HF. */
  readonly dMlp?: number;
}

export interface HfGpt2Result {
  /** [T, vocab] */
  readonly logits: Float64Array;
  /** Residual stream [T, dModel]: residual[0] the embeddings, residual[l + 1] after block l (before ln_f). */
  readonly residual: Float64Array[];
}

/** Plain GPT-2 forward over HF tensors (`wte.weight`, `h.0.attn.c_attn.weight`, ...; a `transformer.` prefix is accepted). */
export function hfGpt2Forward(tensors: ReadonlyMap<string, HfTensor>, cfg: HfGpt2Config, tokens: readonly number[]): HfGpt2Result {
  const { dModel: d, nHeads: H } = cfg;
  if (d % H !== 0) throw new Error(`dModel ${d} is not a multiple of nHeads ${H}`);
  const dh = d / H;
  const f = cfg.dMlp ?? 4 * d;
  const T = tokens.length;
  const get = (name: string, shape: readonly number[]): Float32Array => {
    const t = tensors.get(name) ?? tensors.get(`transformer.${name}`);
    if (!t) throw new Error(`checkpoint has no tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i]) || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    return t.data;
  };
  const wteShape = (tensors.get('wte.weight') ?? tensors.get('transformer.wte.weight'))?.shape;
  const V = wteShape?.[0];
  if (V === undefined) throw new Error('checkpoint has no tensor wte.weight');
  const wte = get('wte.weight', [V, d]);
  const nPositions = (tensors.get('wpe.weight') ?? tensors.get('transformer.wpe.weight'))?.shape[0] ?? 0;
  const wpe = get('wpe.weight', [nPositions, d]);
  if (T === 0 || T > nPositions) throw new Error(`prompt of ${T} tokens; wpe has ${nPositions} positions`);

  // x: [T][d] as plain rows; clarity over speed.
  let x: Float64Array[] = tokens.map((tok, t) => {
    if (!Number.isInteger(tok) || tok < 0 || tok >= V) throw new Error(`token ${tok} outside the vocabulary of ${V}`);
    return Float64Array.from({ length: d }, (_, i) => wte[tok * d + i]! + wpe[t * d + i]!);
  });
  const residual = [concat(x)];

  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `h.${l}`;
    const ln1 = x.map((r) => layerNorm(r, get(`${p}.ln_1.weight`, [d]), get(`${p}.ln_1.bias`, [d]), cfg.eps));
    const qkv = ln1.map((r) => linear(r, get(`${p}.attn.c_attn.weight`, [d, 3 * d]), get(`${p}.attn.c_attn.bias`, [3 * d])));
    // Merged heads: z[t] has head h at columns h*dh..(h+1)*dh, as HF's merge_heads lays them out.
    const z = x.map(() => new Float64Array(d));
    for (let h = 0; h < H; h++) {
      const q = qkv.map((r) => r.subarray(h * dh, (h + 1) * dh));
      const k = qkv.map((r) => r.subarray(d + h * dh, d + (h + 1) * dh));
      const v = qkv.map((r) => r.subarray(2 * d + h * dh, 2 * d + (h + 1) * dh));
      for (let t = 0; t < T; t++) {
        const scores: number[] = [];
        for (let u = 0; u <= t; u++) scores.push(dot(q[t]!, k[u]!) / Math.sqrt(dh));
        const probs = softmax(scores);
        for (let u = 0; u <= t; u++) for (let j = 0; j < dh; j++) z[t]![h * dh + j]! += probs[u]! * v[u]![j]!;
      }
    }
    const attnOut = z.map((r) => linear(r, get(`${p}.attn.c_proj.weight`, [d, d]), get(`${p}.attn.c_proj.bias`, [d])));
    x = x.map((r, t) => add(r, attnOut[t]!));

    const ln2 = x.map((r) => layerNorm(r, get(`${p}.ln_2.weight`, [d]), get(`${p}.ln_2.bias`, [d]), cfg.eps));
    const mlpOut = ln2.map((r) => {
      const hidden = linear(r, get(`${p}.mlp.c_fc.weight`, [d, f]), get(`${p}.mlp.c_fc.bias`, [f])).map(geluNew);
      return linear(hidden, get(`${p}.mlp.c_proj.weight`, [f, d]), get(`${p}.mlp.c_proj.bias`, [d]));
    });
    x = x.map((r, t) => add(r, mlpOut[t]!));
    residual.push(concat(x));
  }

  const lnF = x.map((r) => layerNorm(r, get('ln_f.weight', [d]), get('ln_f.bias', [d]), cfg.eps));
  // Tied LM head: logits = ln_f(x) @ wte^T.
  const logits = new Float64Array(T * V);
  lnF.forEach((r, t) => {
    for (let v = 0; v < V; v++) logits[t * V + v] = dot(r, wte.subarray(v * d, (v + 1) * d));
  });
  return { logits, residual };
}

/** Conv1D: y = x @ W + b with W [in, out]. */
function linear(x: Float64Array, W: Float32Array, b: Float32Array): Float64Array {
  const n = b.length;
  const y = Float64Array.from(b);
  for (let i = 0; i < x.length; i++) for (let j = 0; j < n; j++) y[j]! += x[i]! * W[i * n + j]!;
  return y;
}

function layerNorm(x: Float64Array, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) * (v - mean), 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * w[i]! + b[i]!);
}

function geluNew(u: number): number {
  return 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3)));
}

function softmax(s: readonly number[]): number[] {
  const max = Math.max(...s);
  const e = s.map((v) => Math.exp(v - max));
  const total = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / total);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i]! * b[i]!;
  return acc;
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + b[i]!);
}

function concat(rows: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(rows.reduce((n, r) => n + r.length, 0));
  let o = 0;
  for (const r of rows) {
    out.set(r, o);
    o += r.length;
  }
  return out;
}
