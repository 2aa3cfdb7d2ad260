// The slow, obviously-correct float64 reference of the patched forward pass (docs/design.md
// sections 1 and 2), for ONE prompt. Every receiver builds its own residual input from the sender
// outputs by the patching formula, one position at a time, so nothing here shares a code path with
// the fast runtime. It imports only the model types and the graph's indexing: keep it that way.
import { ComponentGraph } from '../../src/graph/component-graph.js';
import type { ModelConfig, ModelWeights, NormWeights, Tensor } from '../../src/model/types.js';

/** Sender outputs, indexed like ComponentGraph.senders: [S][T * dModel], row-major over positions. */
export type SenderOutputs = Float64Array[];

export interface ReferenceModel {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
}

/** Token ids, or token embeddings [T, dModel] before position embeddings (for Gaussian noising). */
export type ReferenceInput = { readonly tokens: readonly number[] } | { readonly embeddings: Float64Array | Float32Array };

/** M(sender, receiver, position) in [0, 1] (any number is accepted: masks may be continuous). */
export type Mask = (sender: number, receiver: number, position: number) => number;

export interface ReferencePatch {
  readonly mask: Mask;
  /** The other run's sender outputs, [S][T * dModel]; T must equal this run's length. */
  readonly source: readonly ArrayLike<number>[];
}

export interface ReferenceResult {
  readonly nPositions: number;
  /** [T, vocabSize] */
  readonly logits: Float64Array;
  /** This run's sender outputs (patches included), [S][T * dModel]. */
  readonly senders: SenderOutputs;
  /** Each receiver's residual input after patching, before its norm, [R][T * dModel]. */
  readonly receiverInputs: Float64Array[];
}

export function referenceForward(model: ReferenceModel, input: ReferenceInput, patch?: ReferencePatch): ReferenceResult {
  const { config: cfg, weights: w } = model;
  checkModel(cfg, w);
  const graph = ComponentGraph.forModel(cfg);
  const d = cfg.dModel;
  const tokenEmb = tokenEmbeddings(cfg, w, input);
  const T = tokenEmb.length / d;
  if (patch) checkSource(patch.source, graph.nSenders, T * d);

  // Senders not yet computed stay zero; the fan-in prefix guarantees nobody reads them early.
  const senders: SenderOutputs = graph.senders.map(() => new Float64Array(T * d));
  const receiverInputs = graph.receivers.map(() => new Float64Array(T * d));

  const inputSender = senders[0]!;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < d; i++) {
      const pos = w.posEmbed ? w.posEmbed.data[t * d + i]! : 0;
      inputSender[t * d + i] = tokenEmb[t * d + i]! + pos;
    }
  }

  /** input_r[t] = sum_s cur_s[t] + constants + sum_s M(s, r, t) (src_s[t] - cur_s[t]), s in fanIn(r). */
  const residualInput = (r: number): Float64Array => {
    const fanIn = graph.fanIn[r]!;
    const constant = constantBiases(cfg, w, receiverStage(graph, r));
    const out = receiverInputs[r]!;
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < d; i++) {
        let x = 0;
        for (let s = 0; s < fanIn; s++) x += senders[s]![t * d + i]!;
        out[t * d + i] = x + constant[i]!;
      }
      if (!patch) continue;
      for (let s = 0; s < fanIn; s++) {
        const m = patch.mask(s, r, t);
        const cur = senders[s]!;
        const src = patch.source[s]!;
        for (let i = 0; i < d; i++) out[t * d + i]! += m * (src[t * d + i]! - cur[t * d + i]!);
      }
    }
    return out;
  };

  const group = cfg.nHeads / cfg.nKvHeads;
  for (let L = 0; L < cfg.nLayers; L++) {
    const lw = w.layers[L]!;
    for (let h = 0; h < cfg.nHeads; h++) {
      // Grouped-query attention: query head h reads kv head floor(h / group) through its own k/v receivers.
      const g = Math.floor(h / group);
      const xq = residualInput(graph.headInputReceiver(L, h, 'q'));
      const xk = residualInput(graph.headInputReceiver(L, h, 'k'));
      const xv = residualInput(graph.headInputReceiver(L, h, 'v'));
      const q: Float64Array[] = [];
      const k: Float64Array[] = [];
      const v: Float64Array[] = [];
      for (let t = 0; t < T; t++) {
        q.push(project(normalize(row(xq, t, d), lw.ln1, cfg), slice(lw.wq, h), slice(lw.bq, h)));
        k.push(project(normalize(row(xk, t, d), lw.ln1, cfg), slice(lw.wk, g), slice(lw.bk, g)));
        v.push(project(normalize(row(xv, t, d), lw.ln1, cfg), slice(lw.wv, g), slice(lw.bv, g)));
        if (cfg.positional === 'rope') {
          rope(q[t]!, t, cfg.ropeTheta);
          rope(k[t]!, t, cfg.ropeTheta);
        }
      }
      const out = senders[graph.headSender(L, h)]!;
      const wo = slice(lw.wo, h);
      for (let t = 0; t < T; t++) {
        const z = attend(q[t]!, k.slice(0, t + 1), v.slice(0, t + 1));
        out.set(project(z, wo), t * d); // no bo: it is a constant of the stream, not the head's output
      }
    }

    const xm = residualInput(graph.mlpReceiver(L));
    const out = senders[graph.mlpSender(L)]!;
    for (let t = 0; t < T; t++) out.set(mlp(normalize(row(xm, t, d), lw.ln2, cfg), lw, cfg), t * d); // no bOut
  }

  const xl = residualInput(graph.logitsReceiver);
  const V = cfg.vocabSize;
  const logits = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    const y = project(normalize(row(xl, t, d), w.lnFinal, cfg), w.unembed.data, w.unembedBias?.data);
    logits.set(y, t * V);
  }
  return { nPositions: T, logits, senders, receiverInputs };
}

/** The unpatched forward pass. */
export function plainForward(model: ReferenceModel, input: ReferenceInput): ReferenceResult {
  return referenceForward(model, input);
}

// ---- masks ---------------------------------------------------------------------------------------

/** Patch nothing: reproduces the base run. */
export const zeroMask: Mask = () => 0;

/** Patch every edge at every position: reproduces the source run (except the `input` sender itself). */
export const onesMask: Mask = () => 1;

export interface MaskEdge {
  readonly sender: number;
  readonly receiver: number;
  /** Only this position; every position when absent. */
  readonly position?: number;
  /** Mask value; 1 when absent. */
  readonly value?: number;
}

/** A mask that is `value` on the listed edges (optionally per position) and 0 elsewhere. */
export function edgeMask(edges: Iterable<MaskEdge>): Mask {
  const everywhere = new Map<string, number>();
  const atPosition = new Map<string, number>();
  for (const e of edges) {
    const key = `${e.sender},${e.receiver}`;
    if (e.position === undefined) everywhere.set(key, e.value ?? 1);
    else atPosition.set(`${key},${e.position}`, e.value ?? 1);
  }
  return (s, r, t) => atPosition.get(`${s},${r},${t}`) ?? everywhere.get(`${s},${r}`) ?? 0;
}

/** Node patching: every edge out of the given senders. */
export function senderMask(senders: Iterable<number>): Mask {
  const set = new Set(senders);
  return (s) => (set.has(s) ? 1 : 0);
}

/** Restrict a mask to some positions (a per-position graph); `inner` defaults to every edge. */
export function atPositions(positions: number | Iterable<number>, inner: Mask = onesMask): Mask {
  const set = new Set(typeof positions === 'number' ? [positions] : positions);
  return (s, r, t) => (set.has(t) ? inner(s, r, t) : 0);
}

// ---- the pieces ----------------------------------------------------------------------------------

function tokenEmbeddings(cfg: ModelConfig, w: ModelWeights, input: ReferenceInput): Float64Array {
  const d = cfg.dModel;
  let emb: Float64Array;
  if ('tokens' in input) {
    emb = new Float64Array(input.tokens.length * d);
    input.tokens.forEach((tok, t) => {
      if (!Number.isInteger(tok) || tok < 0 || tok >= cfg.vocabSize) throw new Error(`token ${tok} at position ${t} is outside the vocabulary of ${cfg.vocabSize}`);
      emb.set(w.embed.data.subarray(tok * d, (tok + 1) * d), t * d);
    });
  } else {
    if (input.embeddings.length % d !== 0) throw new Error(`embeddings of length ${input.embeddings.length} are not [T, ${d}]`);
    emb = Float64Array.from(input.embeddings);
  }
  const T = emb.length / d;
  if (T === 0) throw new Error('empty prompt');
  if (cfg.positional === 'learned' && T > cfg.maxPositions) throw new Error(`prompt of ${T} tokens exceeds ${cfg.maxPositions} learned positions`);
  return emb;
}

/** Stage of a receiver in the stream (as in graph/nodes.ts): head inputs 2L, MLP 2L + 1, logits 2 * nLayers. */
function receiverStage(graph: ComponentGraph, r: number): number {
  const rec = graph.receivers[r]!;
  if (rec.kind === 'logits') return 2 * graph.nLayers;
  return rec.kind === 'head-input' ? 2 * rec.layer : 2 * rec.layer + 1;
}

/** Sum of the biases written before `stage`: bo of layer l sits at stage 2l, bOut at 2l + 1. */
function constantBiases(cfg: ModelConfig, w: ModelWeights, stage: number): Float64Array {
  const c = new Float64Array(cfg.dModel);
  w.layers.forEach((lw, l) => {
    if (lw.bo && 2 * l < stage) lw.bo.data.forEach((b, i) => (c[i]! += b));
    if (lw.bOut && 2 * l + 1 < stage) lw.bOut.data.forEach((b, i) => (c[i]! += b));
  });
  return c;
}

function row(x: Float64Array, t: number, d: number): Float64Array {
  return x.slice(t * d, (t + 1) * d);
}

/** The h-th block of a tensor with a leading head dimension ([H, ...] -> [...]). */
function slice(t: Tensor, h: number): Float32Array;
function slice(t: Tensor | undefined, h: number): Float32Array | undefined;
function slice(t: Tensor | undefined, h: number): Float32Array | undefined {
  if (!t) return undefined;
  const size = t.data.length / t.shape[0]!;
  return t.data.subarray(h * size, (h + 1) * size);
}

/** y = x @ W (+ b), W [x.length, n] row-major. */
function project(x: Float64Array, W: Float32Array, b?: Float32Array): Float64Array {
  const n = W.length / x.length;
  const y = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let acc = b ? b[j]! : 0;
    for (let i = 0; i < x.length; i++) acc += x[i]! * W[i * n + j]!;
    y[j] = acc;
  }
  return y;
}

function normalize(x: Float64Array, p: NormWeights, cfg: ModelConfig): Float64Array {
  const n = x.length;
  const y = new Float64Array(n);
  if (cfg.norm === 'layernorm') {
    const mean = x.reduce((a, b) => a + b, 0) / n;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / n; // biased, as torch LayerNorm
    const scale = 1 / Math.sqrt(variance + cfg.normEps);
    for (let i = 0; i < n; i++) y[i] = (x[i]! - mean) * scale * p.weight.data[i]! + (p.bias ? p.bias.data[i]! : 0);
  } else {
    const meanSquare = x.reduce((a, b) => a + b * b, 0) / n;
    const scale = 1 / Math.sqrt(meanSquare + cfg.normEps);
    for (let i = 0; i < n; i++) y[i] = x[i]! * scale * p.weight.data[i]!;
  }
  return y;
}

/** Rotary embedding in place, half-split layout: pair i is (i, i + dHead/2), angle pos * theta^(-2i/dHead). */
function rope(x: Float64Array, pos: number, theta: number): void {
  const half = x.length / 2;
  for (let i = 0; i < half; i++) {
    const angle = pos * theta ** ((-2 * i) / x.length);
    const a = x[i]!;
    const b = x[i + half]!;
    x[i] = a * Math.cos(angle) - b * Math.sin(angle);
    x[i + half] = a * Math.sin(angle) + b * Math.cos(angle);
  }
}

/** softmax(q . k_u / sqrt(dHead)) over the given (causal) keys, applied to the values. */
function attend(q: Float64Array, keys: readonly Float64Array[], values: readonly Float64Array[]): Float64Array {
  const scale = 1 / Math.sqrt(q.length);
  const scores = keys.map((k) => k.reduce((acc, kj, j) => acc + q[j]! * kj, 0) * scale);
  const max = Math.max(...scores);
  const e = scores.map((s) => Math.exp(s - max));
  const total = e.reduce((a, b) => a + b, 0);
  const z = new Float64Array(values[0]!.length);
  values.forEach((v, u) => v.forEach((vj, j) => (z[j]! += (e[u]! / total) * vj)));
  return z;
}

function mlp(x: Float64Array, lw: ModelWeights['layers'][number], cfg: ModelConfig): Float64Array {
  const up = project(x, lw.wIn.data, lw.bIn?.data);
  if (cfg.mlp === 'gelu_new') {
    const hidden = up.map((u) => 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3))));
    return project(hidden, lw.wOut.data);
  }
  if (!lw.wGate) throw new Error('swiglu MLP without wGate');
  const gate = project(x, lw.wGate.data);
  const hidden = up.map((u, j) => (gate[j]! / (1 + Math.exp(-gate[j]!))) * u); // silu(gate) * up
  return project(hidden, lw.wOut.data);
}

// ---- checks: a reference that silently reads garbage is worse than none -------------------------

function expectShape(name: string, t: Tensor | undefined, shape: readonly number[], optional = false): void {
  if (!t) {
    if (optional) return;
    throw new Error(`missing ${name}`);
  }
  const ok = t.shape.length === shape.length && t.shape.every((n, i) => n === shape[i]) && t.data.length === shape.reduce((a, b) => a * b, 1);
  if (!ok) throw new Error(`${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
}

function checkModel(cfg: ModelConfig, w: ModelWeights): void {
  const { dModel: d, nHeads: H, nKvHeads: KV, dHead: dh, dMlp: f, vocabSize: V } = cfg;
  if (H % KV !== 0) throw new Error(`nHeads ${H} is not a multiple of nKvHeads ${KV}`);
  if (cfg.positional === 'rope' && dh % 2 !== 0) throw new Error(`RoPE needs an even dHead, got ${dh}`);
  if (w.layers.length !== cfg.nLayers) throw new Error(`${w.layers.length} layers of weights for nLayers ${cfg.nLayers}`);
  expectShape('embed', w.embed, [V, d]);
  if (cfg.positional === 'learned') expectShape('posEmbed', w.posEmbed, [cfg.maxPositions, d]);
  else if (w.posEmbed) throw new Error('posEmbed present on a RoPE model');
  expectShape('unembed', w.unembed, [d, V]);
  expectShape('unembedBias', w.unembedBias, [V], true);
  const checkNorm = (name: string, p: NormWeights): void => {
    expectShape(`${name}.weight`, p.weight, [d]);
    expectShape(`${name}.bias`, p.bias, [d], true);
    if (cfg.norm === 'rmsnorm' && p.bias) throw new Error(`${name}.bias on an RMSNorm model`);
  };
  checkNorm('lnFinal', w.lnFinal);
  w.layers.forEach((lw, l) => {
    const n = (s: string): string => `layers[${l}].${s}`;
    checkNorm(n('ln1'), lw.ln1);
    checkNorm(n('ln2'), lw.ln2);
    expectShape(n('wq'), lw.wq, [H, d, dh]);
    expectShape(n('bq'), lw.bq, [H, dh], true);
    expectShape(n('wk'), lw.wk, [KV, d, dh]);
    expectShape(n('bk'), lw.bk, [KV, dh], true);
    expectShape(n('wv'), lw.wv, [KV, d, dh]);
    expectShape(n('bv'), lw.bv, [KV, dh], true);
    expectShape(n('wo'), lw.wo, [H, dh, d]);
    expectShape(n('bo'), lw.bo, [d], true);
    expectShape(n('wIn'), lw.wIn, [d, f]);
    expectShape(n('bIn'), lw.bIn, [f], true);
    expectShape(n('wGate'), lw.wGate, [d, f], cfg.mlp === 'gelu_new');
    expectShape(n('wOut'), lw.wOut, [f, d]);
    expectShape(n('bOut'), lw.bOut, [d], true);
  });
}

function checkSource(source: readonly ArrayLike<number>[], nSenders: number, size: number): void {
  if (source.length !== nSenders) throw new Error(`patch source has ${source.length} senders, the graph has ${nSenders}`);
  source.forEach((s, i) => {
    if (s.length !== size) throw new Error(`patch source sender ${i} has ${s.length} values, expected ${size} (T * dModel): prompts must have equal length`);
  });
}
