// A GPT-2 with hand-set weights whose induction behaviour is carried by a known circuit, so that
// detection and circuit discovery can be scored against a right answer without downloads.
//
// Design (d_model 384, 2 layers, 12 heads of 32 dims, MLP 1536, vocabulary 64, 128 positions):
// the residual stream is cut into orthogonal subspaces of a seeded random orthonormal basis, every
// vector orthogonal to the all-ones direction, so that LayerNorm's centring is a no-op and its only
// effect is the scale sqrt(d) / |x|:
//   TOK  (32)  token identity: token v is +-e_i (i = v mod 32), an exactly orthogonal code up to antipodes
//   POS  (32)  16 sinusoid pairs at frequencies pi sqrt(f / 16): a fixed rotation maps pos(p) to pos(p - 1)
//   SINK (1)   a large component of position 0 only (GPT-2's position 0 has a huge norm too); see below
//   PREV (32)  written by the previous-token head: the code of the token before
//   OUT  (32)  written by the induction head; the only subspace the unembedding reads
//   JUNK (254) the rest: everything the distractors write
// Previous-token head a0.h{p}: query = rotated POS, key = POS, so position p attends to p - 1 (scores
// ~40 apart from every other position up to 128); value = TOK, output = PREV.
// Induction head a1.h{i}: query = TOK of the current token, key = PREV, so it attends where the
// previous token equals the current one; value = TOK there, output = OUT; the unembedding turns OUT
// into "predict that token" (answer logit ~12). Attention logits are large: the patterns are hard.
// Position 0 attends to itself in the previous-token head, so its PREV repeats position 1's; the
// SINK shrinks position 0 through LayerNorm at both layers, which makes the induction head prefer
// position 1 over position 0 when they tie (only at the first token of a second copy).
// Distractors (the other 11 heads per layer, both MLPs, the attention and MLP output biases) have
// seeded random weights that read the whole stream, planted subspaces included, and write only into
// JUNK with modest norms; nothing planted reads JUNK, so they reach the task only through the
// LayerNorm scale, a few per cent. The unembedding reads only OUT, so the direct path input->logits
// predicts nothing. Embeddings are untied (lm_head.weight is written). No weight is special-cased at
// run time: this is an ordinary GPT-2 checkpoint.
import { Random } from '../core/random.js';
import type { GroundTruth } from '../core/vocabulary.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { writeGpt2Hf } from '../checkpoints/write-hf.js';
import { tensor, type LayerWeights, type LoadedModel, type ModelConfig, type Tensor } from '../model/types.js';

export const PLANTED_KINDS = ['induction'] as const;
export type PlantedKind = (typeof PLANTED_KINDS)[number];

export const GROUND_TRUTH_FILE = 'ground-truth.json';

export interface PlantOptions {
  /** Seeds the basis and every distractor weight (default 0). */
  readonly seed?: number;
  /** 2 .. 64 tokens (default 64): the token code has 2 * dHead exactly orthogonal-or-antipodal entries. */
  readonly vocabSize?: number;
  /** Head index of the previous-token head in layer 0 (default 3). */
  readonly previousTokenHead?: number;
  /** Head index of the induction head in layer 1 (default 7). */
  readonly inductionHead?: number;
}

/** The planted model's ground truth as written beside it: the circuit plus what made it. */
export interface PlantedGroundTruth extends GroundTruth {
  readonly kind: PlantedKind;
  readonly model: string;
  readonly seed: number;
  readonly heads: { readonly previousToken: string; readonly induction: string };
  readonly nodes: readonly string[];
  /** Here: the previous-token head's query and key, the induction key's LayerNorm scale at position 0. */
  readonly positionalEdges: readonly string[];
  /**
   * Zero ablation removes position too, so it also sees the previous-token head's query and key
   * (its attention pattern is position); the induction key's position-0 scale edge stays invisible
   * (the induction pattern is hard, so its scale changes nothing except at a tie). Resampling and
   * mean ablation keep every position's information: they see `edges`.
   */
  readonly ablationEdges: { readonly zero: readonly string[] };
  readonly description: string;
}

export interface PlantedModel {
  readonly model: LoadedModel;
  readonly groundTruth: PlantedGroundTruth;
}

const D_MODEL = 384;
const N_HEADS = 12;
const D_HEAD = D_MODEL / N_HEADS;
const D_MLP = 4 * D_MODEL;
const MAX_POSITIONS = 128;
const N_FREQ = D_HEAD / 2;

// Norms of the planted vectors. Token + position = sqrt(d), so LayerNorm is the identity at layer 0.
const TOKEN_NORM = Math.sqrt(D_MODEL / 2);
const POS_NORM = Math.sqrt(D_MODEL / 2);
/** Position 0's residual is 2x longer than the others': LayerNorm halves it. */
const SINK_NORM = Math.sqrt(3 * D_MODEL);
const PREV_NORM = Math.sqrt(D_MODEL / 2);
const OUT_NORM = Math.sqrt(D_MODEL / 2);
/** Rough squared norm of all distractor output per layer (~0.3 d): sets the nominal LayerNorm scales. */
const JUNK_NORM2 = 0.3 * D_MODEL;
// Attention logits (after 1/sqrt(dHead)) at a match, and the answer's logit, at nominal scales.
const PREV_SCORE = 40;
const INDUCTION_SCORE = 48;
const ANSWER_LOGIT = 12;
// Distractor weight scales: attention scores of std ~3 (varied, non-trivial patterns), head outputs
// of norm ~3-4 and MLP outputs ~6-7 against a residual of norm ~20-30.
const DISTRACTOR_QK_STD = 0.088;
const DISTRACTOR_V_STD = 1 / Math.sqrt(D_MODEL);
const DISTRACTOR_O_STD = 0.06;
const DISTRACTOR_BIAS_STD = 0.1;
const MLP_IN_STD = 1 / Math.sqrt(D_MODEL);
const MLP_IN_BIAS_STD = 0.5;
const MLP_OUT_STD = 0.015;

/** Builds the planted induction model (deterministic in its options). */
export function plantInductionModel(opts: PlantOptions = {}): PlantedModel {
  const seed = opts.seed ?? 0;
  const V = opts.vocabSize ?? 2 * D_HEAD;
  const prevHead = opts.previousTokenHead ?? 3;
  const indHead = opts.inductionHead ?? 7;
  if (!Number.isInteger(seed)) throw new UserError(`planted model: seed must be an integer, got ${seed}`);
  if (!Number.isInteger(V) || V < 2 || V > 2 * D_HEAD) throw new UserError(`planted model: vocabSize must be an integer in 2..${2 * D_HEAD}, got ${V}`);
  for (const [what, h] of [
    ['previousTokenHead', prevHead],
    ['inductionHead', indHead],
  ] as const) {
    if (!Number.isInteger(h) || h < 0 || h >= N_HEADS) throw new UserError(`planted model: ${what} must be an integer in 0..${N_HEADS - 1}, got ${h}`);
  }

  const d = D_MODEL;
  const rng = new Random(seed);
  // The all-ones direction, then TOK, POS, SINK, PREV, OUT; JUNK is everything orthogonal to these.
  const planted = orthonormalVectors(3 * D_HEAD + 2 * N_FREQ + 1, d, rng);
  let next = 1;
  const take = (n: number): Float64Array[] => planted.slice(next, (next += n));
  const TOK = take(D_HEAD);
  const POS = take(2 * N_FREQ);
  const SINK = take(1)[0]!;
  const PREV = take(D_HEAD);
  const OUT = take(D_HEAD);

  // Nominal LayerNorm scales sqrt(d) / |x| at layer 1 and at the final norm (positions > 0).
  const kappa1 = Math.sqrt(d / (d + PREV_NORM ** 2 + JUNK_NORM2));
  const kappaF = Math.sqrt(d / (d + PREV_NORM ** 2 + OUT_NORM ** 2 + 2 * JUNK_NORM2));
  const omega = Array.from({ length: N_FREQ }, (_, f) => Math.PI * Math.sqrt((f + 1) / N_FREQ));

  const embed = new Float64Array(V * d);
  for (let v = 0; v < V; v++) addScaled(embed, v * d, TOK[v % D_HEAD]!, codeSign(v) * TOKEN_NORM);
  const posEmbed = new Float64Array(MAX_POSITIONS * d);
  for (let p = 0; p < MAX_POSITIONS; p++) {
    for (let f = 0; f < N_FREQ; f++) {
      addScaled(posEmbed, p * d, POS[f]!, (POS_NORM * Math.cos(omega[f]! * p)) / Math.sqrt(N_FREQ));
      addScaled(posEmbed, p * d, POS[N_FREQ + f]!, (POS_NORM * Math.sin(omega[f]! * p)) / Math.sqrt(N_FREQ));
    }
  }
  addScaled(posEmbed, 0, SINK, SINK_NORM);

  const draw = (n: number, std: number): Float64Array => {
    const t = new Float32Array(n);
    rng.fillNormal(t, std);
    return new Float64Array(t);
  };
  const layers = Array.from({ length: 2 }, () => distractorLayer(draw, planted));

  // Previous-token head: q = c R pos(p) = c pos(p - 1), k = c pos(j); value TOK -> output PREV.
  const prevQk = Math.sqrt(PREV_SCORE * Math.sqrt(D_HEAD)) / POS_NORM;
  const l0 = layers[0]!;
  clearHead(l0, prevHead);
  for (let f = 0; f < N_FREQ; f++) {
    const c = Math.cos(omega[f]!);
    const s = Math.sin(omega[f]!);
    // cos w(p-1) = c cos wp + s sin wp; sin w(p-1) = c sin wp - s cos wp.
    setColumn(l0.wq, prevHead, f, [
      [POS[f]!, prevQk * c],
      [POS[N_FREQ + f]!, prevQk * s],
    ]);
    setColumn(l0.wq, prevHead, N_FREQ + f, [
      [POS[N_FREQ + f]!, prevQk * c],
      [POS[f]!, -prevQk * s],
    ]);
  }
  for (let j = 0; j < D_HEAD; j++) {
    setColumn(l0.wk, prevHead, j, [[POS[j]!, prevQk]]);
    setColumn(l0.wv, prevHead, j, [[TOK[j]!, 1]]);
    setRow(l0.wo, prevHead, j, PREV[j]!, PREV_NORM / TOKEN_NORM);
  }

  // Induction head: q = TOK(current), k = PREV (previous token there); value TOK -> output OUT.
  const indQk = Math.sqrt((INDUCTION_SCORE * Math.sqrt(D_HEAD)) / (TOKEN_NORM * PREV_NORM)) / kappa1;
  const l1 = layers[1]!;
  clearHead(l1, indHead);
  for (let j = 0; j < D_HEAD; j++) {
    setColumn(l1.wq, indHead, j, [[TOK[j]!, indQk]]);
    setColumn(l1.wk, indHead, j, [[PREV[j]!, indQk]]);
    setColumn(l1.wv, indHead, j, [[TOK[j]!, 1]]);
    setRow(l1.wo, indHead, j, OUT[j]!, OUT_NORM / (kappa1 * TOKEN_NORM));
  }

  // Unembedding: the logit of v is the OUT content along v's code.
  const unembed = new Float64Array(d * V);
  const gain = ANSWER_LOGIT / (kappaF * OUT_NORM);
  for (let v = 0; v < V; v++) {
    const u = OUT[v % D_HEAD]!;
    for (let i = 0; i < d; i++) unembed[i * V + v] = codeSign(v) * gain * u[i]!;
  }

  const ones = (): Tensor => tensor([d], new Float32Array(d).fill(1));
  const zeros = (): Tensor => tensor([d]);
  const config: ModelConfig = {
    architecture: 'gpt2',
    name: 'planted-induction',
    dModel: d,
    nLayers: 2,
    nHeads: N_HEADS,
    nKvHeads: N_HEADS,
    dHead: D_HEAD,
    dMlp: D_MLP,
    vocabSize: V,
    maxPositions: MAX_POSITIONS,
    norm: 'layernorm',
    normEps: 1e-5,
    mlp: 'gelu_new',
    positional: 'learned',
    ropeTheta: 10000,
    tiedEmbeddings: false,
  };
  const weights = {
    embed: toTensor(embed, [V, d]),
    posEmbed: toTensor(posEmbed, [MAX_POSITIONS, d]),
    layers: layers.map(
      (l): LayerWeights => ({
        ln1: { weight: ones(), bias: zeros() },
        wq: toTensor(l.wq, [N_HEADS, d, D_HEAD]),
        bq: toTensor(l.bq, [N_HEADS, D_HEAD]),
        wk: toTensor(l.wk, [N_HEADS, d, D_HEAD]),
        bk: toTensor(l.bk, [N_HEADS, D_HEAD]),
        wv: toTensor(l.wv, [N_HEADS, d, D_HEAD]),
        bv: toTensor(l.bv, [N_HEADS, D_HEAD]),
        wo: toTensor(l.wo, [N_HEADS, D_HEAD, d]),
        bo: toTensor(l.bo, [d]),
        ln2: { weight: ones(), bias: zeros() },
        wIn: toTensor(l.wIn, [d, D_MLP]),
        bIn: toTensor(l.bIn, [D_MLP]),
        wOut: toTensor(l.wOut, [D_MLP, d]),
        bOut: toTensor(l.bOut, [d]),
      }),
    ),
    lnFinal: { weight: ones(), bias: zeros() },
    unembed: toTensor(unembed, [d, V]),
  };
  const model: LoadedModel = { config, weights, source: { path: `planted:induction?seed=${seed}`, format: 'hf-safetensors' } };
  return { model, groundTruth: inductionGroundTruth(config.name, seed, prevHead, indHead) };
}

function inductionGroundTruth(model: string, seed: number, prevHead: number, indHead: number): PlantedGroundTruth {
  const p = `a0.h${prevHead}`;
  const i = `a1.h${indHead}`;
  return {
    kind: 'induction',
    model,
    seed,
    heads: { previousToken: p, induction: i },
    nodes: ['input', p, i, 'logits'],
    edges: [`input->${p}<v>`, `${p}->${i}<k>`, `input->${i}<q>`, `input->${i}<v>`, `${i}->logits`],
    positionalEdges: [`input->${p}<q>`, `input->${p}<k>`, `input->${i}<k>`],
    ablationEdges: { zero: [`input->${p}<q>`, `input->${p}<k>`, `input->${p}<v>`, `${p}->${i}<k>`, `input->${i}<q>`, `input->${i}<v>`, `${i}->logits`] },
    description:
      `Induction on repeated random token sequences. ${p} is a previous-token head (attends from p to p - 1 by position, ` +
      `copies that token's identity into a subspace); ${i} is an induction head (query: the current token; key: that ` +
      `subspace; value: the token attended to) and writes the only direction the unembedding reads. Every other head and ` +
      `both MLPs are random distractors writing outside everything the circuit and the unembedding read. ` +
      `Note: the previous-token head matters only where its output differs between clean and corrupted runs at the ` +
      `positions the induction head reads (the first copy); a corruption that changes only the second copy cannot reveal it.`,
  };
}

/** Writes the model in the Hugging Face GPT-2 layout plus ground-truth.json into `dir`. */
export function writePlanted(dir: string, planted: PlantedModel = plantInductionModel()): PlantedModel {
  writeGpt2Hf(planted.model, dir);
  // The model has no BOS/EOS; the writer's GPT-2 default (50256) is outside this vocabulary.
  const cfgPath = join(dir, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(cfgPath, `${JSON.stringify({ ...cfg, bos_token_id: null, eos_token_id: null }, null, 2)}\n`);
  writeFileSync(join(dir, GROUND_TRUTH_FILE), `${JSON.stringify(planted.groundTruth, null, 2)}\n`);
  return planted;
}

/** Reads the ground truth written next to a planted model. */
export function readGroundTruth(dir: string): PlantedGroundTruth {
  const path = join(dir, GROUND_TRUTH_FILE);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: cannot read the ground truth (${(e as Error).message})`);
  }
  const g = json as Partial<Record<keyof PlantedGroundTruth, unknown>>;
  const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');
  const heads = g.heads as Partial<Record<string, unknown>> | undefined;
  if (
    typeof json !== 'object' ||
    json === null ||
    !PLANTED_KINDS.includes(g.kind as PlantedKind) ||
    typeof g.model !== 'string' ||
    typeof g.seed !== 'number' ||
    typeof g.description !== 'string' ||
    typeof heads?.previousToken !== 'string' ||
    typeof heads.induction !== 'string' ||
    !strings(g.nodes) ||
    !strings(g.edges) ||
    !strings(g.positionalEdges)
  ) {
    throw new UserError(`${path}: not a planted-model ground truth (expected kind, model, seed, heads, nodes, edges, positionalEdges, description)`);
  }
  return json as PlantedGroundTruth;
}

/** Token v's code is +e_{v mod dHead} for the first dHead tokens, -e for the next. */
function codeSign(v: number): number {
  return v < D_HEAD ? 1 : -1;
}

/**
 * `n` orthonormal vectors orthogonal to the all-ones direction (Gram-Schmidt, twice for float
 * stability, on seeded Gaussians), so that LayerNorm's mean subtraction leaves every one unchanged.
 * Returned with the normalised all-ones vector in front.
 */
function orthonormalVectors(n: number, d: number, rng: Random): Float64Array[] {
  const out: Float64Array[] = [new Float64Array(d).fill(1 / Math.sqrt(d))];
  const buf = new Float32Array(d);
  while (out.length < n + 1) {
    rng.fillNormal(buf, 1);
    const v = new Float64Array(buf);
    projectOut(v, 0, d, out);
    projectOut(v, 0, d, out);
    let norm = 0;
    for (let i = 0; i < d; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm);
    for (let i = 0; i < d; i++) v[i]! /= norm;
    out.push(v);
  }
  return out;
}

/** Removes from x[offset .. offset + d) its components along the orthonormal vectors `us`. */
function projectOut(x: Float64Array, offset: number, d: number, us: readonly Float64Array[]): void {
  for (const u of us) {
    let dot = 0;
    for (let i = 0; i < d; i++) dot += u[i]! * x[offset + i]!;
    for (let i = 0; i < d; i++) x[offset + i]! -= dot * u[i]!;
  }
}

/** A layer's weights in float64 while they are being built. */
interface Draft {
  wq: Float64Array;
  bq: Float64Array;
  wk: Float64Array;
  bk: Float64Array;
  wv: Float64Array;
  bv: Float64Array;
  wo: Float64Array;
  bo: Float64Array;
  wIn: Float64Array;
  bIn: Float64Array;
  wOut: Float64Array;
  bOut: Float64Array;
}

/**
 * Every head and the MLP random; output rows (and output biases) confined to the JUNK subspace by
 * projecting out the planted directions, which leaves an isotropic Gaussian within JUNK.
 */
function distractorLayer(draw: (n: number, std: number) => Float64Array, planted: readonly Float64Array[]): Draft {
  const d = D_MODEL;
  const intoJunk = (rows: number, std: number): Float64Array => {
    const out = draw(rows * d, std);
    for (let r = 0; r < rows; r++) projectOut(out, r * d, d, planted);
    return out;
  };
  return {
    wq: draw(N_HEADS * d * D_HEAD, DISTRACTOR_QK_STD),
    bq: draw(N_HEADS * D_HEAD, DISTRACTOR_BIAS_STD),
    wk: draw(N_HEADS * d * D_HEAD, DISTRACTOR_QK_STD),
    bk: draw(N_HEADS * D_HEAD, DISTRACTOR_BIAS_STD),
    wv: draw(N_HEADS * d * D_HEAD, DISTRACTOR_V_STD),
    bv: draw(N_HEADS * D_HEAD, DISTRACTOR_BIAS_STD),
    wo: intoJunk(N_HEADS * D_HEAD, DISTRACTOR_O_STD),
    bo: intoJunk(1, DISTRACTOR_BIAS_STD),
    wIn: draw(d * D_MLP, MLP_IN_STD),
    bIn: draw(D_MLP, MLP_IN_BIAS_STD),
    wOut: intoJunk(D_MLP, MLP_OUT_STD),
    bOut: intoJunk(1, DISTRACTOR_BIAS_STD),
  };
}

/** Zeroes one head's projections and biases before it is planted. */
function clearHead(l: Draft, h: number): void {
  const n = D_MODEL * D_HEAD;
  for (const w of [l.wq, l.wk, l.wv, l.wo]) w.fill(0, h * n, (h + 1) * n);
  for (const b of [l.bq, l.bk, l.bv]) b.fill(0, h * D_HEAD, (h + 1) * D_HEAD);
}

/** Column j of head h of a [H, d, dHead] projection = sum of scaled basis vectors. */
function setColumn(w: Float64Array, h: number, j: number, terms: readonly (readonly [Float64Array, number])[]): void {
  for (let i = 0; i < D_MODEL; i++) {
    let s = 0;
    for (const [u, c] of terms) s += c * u[i]!;
    w[(h * D_MODEL + i) * D_HEAD + j] = s;
  }
}

/** Row j of head h of a [H, dHead, d] output projection = c u. */
function setRow(w: Float64Array, h: number, j: number, u: Float64Array, c: number): void {
  addScaled(w, (h * D_HEAD + j) * D_MODEL, u, c);
}

function addScaled(out: Float64Array, offset: number, u: Float64Array, c: number): void {
  for (let i = 0; i < u.length; i++) out[offset + i]! += c * u[i]!;
}

function toTensor(x: Float64Array, shape: number[]): Tensor {
  return tensor(shape, new Float32Array(x));
}
