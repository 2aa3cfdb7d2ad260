// Invariants of the float64 reference itself: before it judges the fast runtime, it has to agree
// with a plain transformer forward and obey the patching formula's identities exactly.
import { describe, expect, it } from 'vitest';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import type { ModelConfig, ModelWeights, NormWeights, Tensor } from '../../src/model/types.js';
import { tensor } from '../../src/model/types.js';
import { type Mask, type ReferenceModel, atPositions, edgeMask, onesMask, plainForward, referenceForward, senderMask, zeroMask } from './patched-forward.js';
import { Random } from '../../src/core/random.js';
import { type RandomShape, maxAbs, maxAbsDiff, randomModel, randomTokens } from './random-model.js';

const T = 8;
const TOL = 1e-10;

const cases: { name: string; arch: 'gpt2' | 'llama'; shape: RandomShape }[] = [
  { name: 'gpt2', arch: 'gpt2', shape: { dModel: 32, nLayers: 3, nHeads: 4, vocabSize: 97 } },
  { name: 'llama GQA 4q/2kv', arch: 'llama', shape: { dModel: 32, nLayers: 3, nHeads: 4, nKvHeads: 2, vocabSize: 101 } },
  { name: 'llama MQA, dHead != dModel/nHeads', arch: 'llama', shape: { dModel: 24, nLayers: 3, nHeads: 4, nKvHeads: 1, dHead: 10, vocabSize: 64 } },
];

/** Relative closeness: |a - b| <= TOL * max(1, |b|max). */
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  const diff = maxAbsDiff(a, b);
  expect(diff, `${what}: max |diff| ${diff}`).toBeLessThanOrEqual(TOL * Math.max(1, maxAbs(b)));
}

function expectIdentical(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  expect(maxAbsDiff(a, b), what).toBe(0);
}

function rows(x: Float64Array, width: number, from: number, to: number): Float64Array {
  return x.slice(from * width, to * width);
}

// ---- a standard transformer forward: one shared residual stream, fused attention ---------------

type Mat = number[][];

function standardForward(model: ReferenceModel, tokens: readonly number[]): Mat {
  const { config: c, weights: w } = model;
  const d = c.dModel;
  const dh = c.dHead;
  const block = (t: Tensor, i: number, r: number, k: number): Mat => Array.from({ length: r }, (_, a) => Array.from(t.data.subarray(i * r * k + a * k, i * r * k + (a + 1) * k)));
  const vec = (t: Tensor | undefined, i: number, n: number): number[] => (t ? Array.from(t.data.subarray(i * n, (i + 1) * n)) : new Array<number>(n).fill(0));
  const matmul = (A: Mat, B: Mat): Mat => A.map((a) => B[0]!.map((_, j) => a.reduce((s, ai, i) => s + ai * B[i]![j]!, 0)));
  const addRow = (A: Mat, b: number[]): Mat => A.map((a) => a.map((v, j) => v + b[j]!));
  const add = (A: Mat, B: Mat): Mat => A.map((a, i) => a.map((v, j) => v + B[i]![j]!));
  const norm = (A: Mat, p: NormWeights): Mat =>
    A.map((a) => {
      const mu = c.norm === 'layernorm' ? a.reduce((s, v) => s + v, 0) / d : 0;
      const ms = a.reduce((s, v) => s + (v - mu) ** 2, 0) / d;
      return a.map((v, i) => ((v - mu) / Math.sqrt(ms + c.normEps)) * p.weight.data[i]! + (p.bias?.data[i] ?? 0));
    });
  // HF's formulation: x * cos(emb) + rotate_half(x) * sin(emb), emb = cat(freqs, freqs).
  const rope = (A: Mat): Mat =>
    A.map((a, t) => {
      const half = dh / 2;
      const emb = a.map((_, j) => t / c.ropeTheta ** ((2 * (j % half)) / dh));
      const rotated = a.map((_, j) => (j < half ? -a[j + half]! : a[j - half]!));
      return a.map((v, j) => v * Math.cos(emb[j]!) + rotated[j]! * Math.sin(emb[j]!));
    });

  let x: Mat = tokens.map((tok, t) => vec(w.embed, tok, d).map((v, i) => v + (w.posEmbed?.data[t * d + i] ?? 0)));
  for (const lw of w.layers) {
    const n1 = norm(x, lw.ln1);
    let attn: Mat = x.map(() => vec(lw.bo, 0, d));
    for (let h = 0; h < c.nHeads; h++) {
      const g = Math.floor((h * c.nKvHeads) / c.nHeads);
      let q = addRow(matmul(n1, block(lw.wq, h, d, dh)), vec(lw.bq, h, dh));
      let k = addRow(matmul(n1, block(lw.wk, g, d, dh)), vec(lw.bk, g, dh));
      const v = addRow(matmul(n1, block(lw.wv, g, d, dh)), vec(lw.bv, g, dh));
      if (c.positional === 'rope') [q, k] = [rope(q), rope(k)];
      const scores = matmul(
        q,
        k[0]!.map((_, j) => k.map((kr) => kr[j]!)),
      ).map((r) => r.map((s) => s / Math.sqrt(dh)));
      const probs = scores.map((r, t) => {
        const e = r.map((s, u) => (u <= t ? Math.exp(s) : 0));
        const z = e.reduce((a, b) => a + b, 0);
        return e.map((p) => p / z);
      });
      attn = add(attn, matmul(matmul(probs, v), block(lw.wo, h, dh, d)));
    }
    x = add(x, attn);
    const n2 = norm(x, lw.ln2);
    const up = addRow(matmul(n2, block(lw.wIn, 0, d, c.dMlp)), vec(lw.bIn, 0, c.dMlp));
    let hidden: Mat;
    if (c.mlp === 'gelu_new') {
      hidden = up.map((r) => r.map((u) => 0.5 * u * (1 + Math.tanh(0.7978845608028654 * (u + 0.044715 * u * u * u)))));
    } else {
      const gate = matmul(n2, block(lw.wGate!, 0, d, c.dMlp));
      hidden = up.map((r, t) => r.map((u, j) => (u * gate[t]![j]!) / (1 + Math.exp(-gate[t]![j]!))));
    }
    x = add(x, addRow(matmul(hidden, block(lw.wOut, 0, c.dMlp, d)), vec(lw.bOut, 0, d)));
  }
  return addRow(matmul(norm(x, w.lnFinal), block(w.unembed, 0, d, c.vocabSize)), vec(w.unembedBias, 0, c.vocabSize));
}

function withUnembedBias(model: { config: ModelConfig; weights: ModelWeights }, seed: number): ReferenceModel {
  const random = new Random(seed);
  const bias = tensor([model.config.vocabSize]);
  bias.data.forEach((_, i) => (bias.data[i] = random.normal()));
  return { config: model.config, weights: { ...model.weights, unembedBias: bias } };
}

describe.each(cases)('reference forward, $name', ({ arch, shape }) => {
  const model = randomModel(arch, shape, 1234);
  const cfg = model.config;
  const graph = ComponentGraph.forModel(cfg);
  const d = cfg.dModel;
  const V = cfg.vocabSize;
  const base = randomTokens(T, V, 1);
  const other = randomTokens(T, V, 2);
  const baseRun = plainForward(model, { tokens: base });
  const sourceRun = plainForward(model, { tokens: other });
  const patched = (mask: Mask) => referenceForward(model, { tokens: base }, { mask, source: sourceRun.senders });

  it('matches a standard forward with one shared residual stream and fused attention', () => {
    expectClose(baseRun.logits, Float64Array.from(standardForward(model, base).flat()), 'logits');
    const biased = withUnembedBias(model, 99);
    expectClose(plainForward(biased, { tokens: other }).logits, Float64Array.from(standardForward(biased, other).flat()), 'logits with unembed bias');
    // The random model is not degenerate: logits spread and prompts disagree.
    expect(maxAbs(baseRun.logits)).toBeGreaterThan(1);
    expect(maxAbsDiff(baseRun.logits, sourceRun.logits)).toBeGreaterThan(0.1);
  });

  it('without a patch, every receiver of a stage sees the same residual stream', () => {
    for (let L = 0; L < cfg.nLayers; L++) {
      const first = baseRun.receiverInputs[graph.headInputReceiver(L, 0, 'q')]!;
      for (let r = graph.layerReceiverStart(L); r < graph.mlpReceiver(L); r++) expectIdentical(baseRun.receiverInputs[r]!, first, graph.receivers[r]!.name);
    }
  });

  it('takes token embeddings instead of token ids (the Gaussian-noising entry)', () => {
    const emb = new Float32Array(T * d);
    base.forEach((tok, t) => emb.set(model.weights.embed.data.subarray(tok * d, (tok + 1) * d), t * d));
    expectIdentical(plainForward(model, { embeddings: emb }).logits, baseRun.logits, 'logits');
  });

  it('mask all-zeros reproduces the base run exactly', () => {
    const run = patched(zeroMask);
    expectIdentical(run.logits, baseRun.logits, 'logits');
    run.senders.forEach((s, i) => expectIdentical(s, baseRun.senders[i]!, graph.senders[i]!.name));
  });

  it("mask all-ones reproduces the source run (the input sender stays this run's embedding)", () => {
    const run = patched(onesMask);
    expectClose(run.logits, sourceRun.logits, 'logits');
    expectIdentical(run.senders[0]!, baseRun.senders[0]!, 'input');
    for (let s = 1; s < graph.nSenders; s++) expectClose(run.senders[s]!, sourceRun.senders[s]!, graph.senders[s]!.name);
    run.receiverInputs.forEach((x, r) => expectClose(x, sourceRun.receiverInputs[r]!, graph.receivers[r]!.name));
    // Node patching of every sender is the same mask.
    expectIdentical(patched(senderMask(graph.senders.map((s) => s.index))).logits, run.logits, 'senderMask(all)');
  });

  it('patching every sender into every receiver at one position equals patching the residual stream there', () => {
    const p = 3;
    const run = patched(atPositions(p));
    // Causal: earlier positions are untouched, bit for bit.
    expectIdentical(rows(run.logits, V, 0, p), rows(baseRun.logits, V, 0, p), 'logits before p');
    run.senders.forEach((s, i) => expectIdentical(rows(s, d, 0, p), rows(baseRun.senders[i]!, d, 0, p), `${graph.senders[i]!.name} before p`));
    // At p every receiver reads the source's residual stream, so the logits there are the source's.
    run.receiverInputs.forEach((x, r) => expectClose(rows(x, d, p, p + 1), rows(sourceRun.receiverInputs[r]!, d, p, p + 1), `${graph.receivers[r]!.name} at p`));
    expectClose(rows(run.logits, V, p, p + 1), rows(sourceRun.logits, V, p, p + 1), 'logits at p');
    // Later positions attend to p and move; off p, receivers are not patched.
    expect(maxAbsDiff(rows(run.logits, V, p + 1, T), rows(baseRun.logits, V, p + 1, T))).toBeGreaterThan(1e-6);
  });

  describe('a single edge changes only what is downstream of it', () => {
    const p = 5;
    const L = 1;
    const h = 1;
    const headOut = graph.headSender(L, h);
    const unchangedBefore = (run: ReturnType<typeof patched>, firstChanged: number): void => {
      for (let s = 0; s < firstChanged; s++) expectIdentical(run.senders[s]!, baseRun.senders[s]!, graph.senders[s]!.name);
    };
    const otherHeadsUnchanged = (run: ReturnType<typeof patched>): void => {
      for (let g = 0; g < cfg.nHeads; g++) {
        if (g !== h) expectIdentical(run.senders[graph.headSender(L, g)]!, baseRun.senders[graph.headSender(L, g)]!, `a${L}.h${g}`);
      }
    };

    it('a query edge changes its head at that position only', () => {
      const run = patched(edgeMask([{ ...graph.parseEdge(`a0.h2->a${L}.h${h}<q>`), position: p }]));
      unchangedBefore(run, graph.layerSenderStart(L));
      otherHeadsUnchanged(run);
      const out = run.senders[headOut]!;
      expectIdentical(rows(out, d, 0, p), rows(baseRun.senders[headOut]!, d, 0, p), 'before p');
      expectIdentical(rows(out, d, p + 1, T), rows(baseRun.senders[headOut]!, d, p + 1, T), 'after p');
      expect(maxAbsDiff(rows(out, d, p, p + 1), rows(baseRun.senders[headOut]!, d, p, p + 1))).toBeGreaterThan(1e-6);
    });

    it.each(['k', 'v'] as const)('a %s edge changes its head from that position on, and not the heads sharing its kv weights', (ch) => {
      const run = patched(edgeMask([{ ...graph.parseEdge(`input->a${L}.h${h}<${ch}>`), position: p }]));
      unchangedBefore(run, graph.layerSenderStart(L));
      otherHeadsUnchanged(run); // with GQA, head h-1 shares kv head floor(h / group) but has its own receivers
      const out = run.senders[headOut]!;
      expectIdentical(rows(out, d, 0, p), rows(baseRun.senders[headOut]!, d, 0, p), 'before p');
      expect(maxAbsDiff(rows(out, d, p, p + 1), rows(baseRun.senders[headOut]!, d, p, p + 1))).toBeGreaterThan(1e-6);
    });

    it("an MLP edge changes that MLP at that position only, and nothing of its layer's attention", () => {
      const run = patched(edgeMask([{ ...graph.parseEdge(`a${L}.h0->m${L}`), position: p }]));
      unchangedBefore(run, graph.mlpSender(L));
      const out = run.senders[graph.mlpSender(L)]!;
      const ref = baseRun.senders[graph.mlpSender(L)]!;
      expectIdentical(rows(out, d, 0, p), rows(ref, d, 0, p), 'before p');
      expectIdentical(rows(out, d, p + 1, T), rows(ref, d, p + 1, T), 'after p');
      expect(maxAbsDiff(rows(out, d, p, p + 1), rows(ref, d, p, p + 1))).toBeGreaterThan(1e-6);
    });

    it('a continuous mask moves the receiver input linearly: input + M (src - cur)', () => {
      const edge = graph.parseEdge(`m0->logits`);
      const run = patched(edgeMask([{ ...edge, value: 0.3 }]));
      run.senders.forEach((s, i) => expectIdentical(s, baseRun.senders[i]!, graph.senders[i]!.name));
      const expected = baseRun.receiverInputs[edge.receiver]!.map((x, j) => x + 0.3 * (sourceRun.senders[edge.sender]![j]! - baseRun.senders[edge.sender]![j]!));
      expectClose(run.receiverInputs[edge.receiver]!, expected, 'logits input');
      // Half of every edge into logits: the midpoint of the two runs' final residual streams.
      const half = patched((_s, r) => (r === graph.logitsReceiver ? 0.5 : 0));
      const mid = baseRun.receiverInputs[graph.logitsReceiver]!.map((x, j) => (x + sourceRun.receiverInputs[graph.logitsReceiver]![j]!) / 2);
      expectClose(half.receiverInputs[graph.logitsReceiver]!, mid, 'midpoint');
    });

    it('ignores mask values on pairs that are not edges (a sender at or after the receiver)', () => {
      const r = graph.headInputReceiver(L, h, 'q');
      const run = patched((s, rr) => (rr === r && s >= graph.fanIn[r]! ? 1 : 0));
      expectIdentical(run.logits, baseRun.logits, 'logits');
    });
  });

  it('rejects a patch source of another length and tokens outside the vocabulary', () => {
    const short = plainForward(model, { tokens: other.slice(0, T - 1) });
    expect(() => referenceForward(model, { tokens: base }, { mask: onesMask, source: short.senders })).toThrow(/equal length/);
    expect(() => plainForward(model, { tokens: [V] })).toThrow(/outside the vocabulary/);
  });
});

describe('rotary embedding', () => {
  it('agrees with the HF rotate_half formulation on a longer prompt (large angles, every pair)', () => {
    const model = randomModel('llama', { dModel: 16, nLayers: 1, nHeads: 2, nKvHeads: 1, vocabSize: 50, maxPositions: 64 }, 7);
    const tokens = randomTokens(24, 50, 3);
    expectClose(plainForward(model, { tokens }).logits, Float64Array.from(standardForward(model, tokens).flat()), 'logits, T = 24');
  });
});
