// Attribution scores from the emitted backward graphs against the float64 reference: every 'eap'
// edge score equals the central finite difference of the metric in the mask entry M[s, r] at M = 0,
// and every 'eap-ig-inputs' score the Riemann sum of those finite differences at the same
// interpolation points (patch delta c_s - b_s, as EAP-IG defines it).
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/checkpoints/load.js';
import { ComponentGraph, type Edge } from '../../src/graph/component-graph.js';
import type { Direction, MetricName } from '../../src/core/vocabulary.js';
import { CleanRow, getMetric, targetOffsets } from '../../src/experiment/metrics.js';
import { attributionPoints, type AttributionData, type AttributionScheme, edgeAttribution, GradientModel } from '../../src/gradients/edge-attribution.js';
import type { ModelConfig, ModelWeights } from '../../src/model/types.js';
import type { PromptPair } from '../../src/tasks/types.js';
import { edgeMask, referenceForward, type ReferenceModel, senderMask } from '../reference/patched-forward.js';
import { maxAbs, randomModel, randomTokens } from '../reference/random-model.js';
import { describeShared, stories260kPath } from '../support/shared.js';

const EPS = 1e-4;

function pairs(V: number, T: number, n: number, seed: number): PromptPair[] {
  return Array.from({ length: n }, (_, i) => {
    const clean = randomTokens(T, V, seed + 2 * i);
    const corrupted = randomTokens(T, V, seed + 2 * i + 1);
    // Two metric targets on the first pair (a pair's score is the mean over its targets).
    const last = { position: T - 1, answer: (7 * i + 3) % V, wrong: (5 * i + 11) % V };
    const targets = i === 0 ? [last, { position: T - 3, answer: (3 * i + 5) % V, wrong: (11 * i + 2) % V }] : [last];
    return { index: i, clean, corrupted, targets, keyPositions: [], roles: {} };
  });
}

function dataOf(model: ReferenceModel, ps: PromptPair[]): AttributionData {
  const T = ps[0]!.clean.length;
  return {
    model,
    groups: [
      {
        rows: ps.map((pair) => ({ pair })),
        seqLen: T,
        cleanInput: { tokens: ps.map((p) => p.clean) },
        corruptedInput: { tokens: ps.map((p) => p.corrupted) },
        positions: ps.map((p) => p.targets.map((t) => t.position)),
        offsets: targetOffsets(ps.map((pair) => ({ pair }))),
      },
    ],
  };
}

/** Token embeddings [T, d] of a prompt (the reference adds positions itself). */
function embed(w: ModelWeights, d: number, tokens: readonly number[]): Float64Array {
  const out = new Float64Array(tokens.length * d);
  tokens.forEach((t, i) => out.set(w.embed.data.subarray(t * d, (t + 1) * d), i * d));
  return out;
}

/** A prompt's logits rows [T, V] at its targets: its [targets x V] block. */
function block(logits: Float64Array, V: number, pair: PromptPair): Float64Array {
  const out = new Float64Array(pair.targets.length * V);
  pair.targets.forEach((t, i) => out.set(logits.subarray(t.position * V, (t.position + 1) * V), i * V));
  return out;
}

/** The registry metric's score of a float64 block (metrics only index and sum its rows). */
function score(metric: MetricName, logits: Float64Array, V: number, pair: PromptPair, clean: CleanRow): number {
  return getMetric(metric).score(block(logits, V, pair) as unknown as Float32Array, pair, clean);
}

/** The reference's attribution: mean over pairs and points of central differences in M[s, r]. */
function referenceAttribution(
  model: ReferenceModel,
  ps: PromptPair[],
  scheme: AttributionScheme,
  metric: MetricName,
  direction: Direction,
  steps: number,
  checked: (e: Edge, i: number) => boolean,
): Float64Array {
  const { config: cfg, weights: w } = model;
  const graph = ComponentGraph.forModel(cfg);
  const { nSenders: S, nReceivers: R } = graph;
  const d = cfg.dModel;
  const V = cfg.vocabSize;
  const out = new Float64Array(S * R);
  for (const pair of ps) {
    const cleanRun = referenceForward(model, { tokens: pair.clean });
    const cleanRow = new CleanRow(Float32Array.from(block(cleanRun.logits, V, pair)), V);
    const eClean = embed(w, d, pair.clean);
    const eCorrupt = embed(w, d, pair.corrupted);
    const [eBase, eSource] = direction === 'noising' ? [eClean, eCorrupt] : [eCorrupt, eClean];
    const base = referenceForward(model, { embeddings: eBase }).senders;
    const source = referenceForward(model, { embeddings: eSource }).senders;
    const points = attributionPoints(scheme, steps);
    for (const alpha of points) {
      const x = eSource.map((c, i) => c + alpha * (eBase[i]! - c));
      const here = referenceForward(model, { embeddings: x }).senders;
      // Patch source whose delta from this run is exactly c_s - b_s.
      const patchSource = here.map((h, s) => h.map((v, i) => v + source[s]![i]! - base[s]![i]!));
      const metricAt = (s: number, r: number, m: number): number => {
        const res = referenceForward(model, { embeddings: x }, { mask: edgeMask([{ sender: s, receiver: r, value: m }]), source: patchSource });
        return score(metric, res.logits, V, pair, cleanRow);
      };
      for (const [i, e] of [...graph.edges()].entries()) {
        if (!checked(e, i)) continue;
        const fd = (metricAt(e.sender, e.receiver, EPS) - metricAt(e.sender, e.receiver, -EPS)) / (2 * EPS);
        out[e.sender * R + e.receiver]! += fd / points.length / ps.length;
      }
    }
  }
  return out;
}

/** Compares the edges `checked` selects (default: every edge; the reference costs two forwards per edge). */
async function expectMatchesReference(
  model: ReferenceModel,
  ps: PromptPair[],
  scheme: AttributionScheme,
  metric: MetricName,
  direction: Direction = 'noising',
  steps = 3,
  checked: (e: Edge, i: number) => boolean = () => true,
): Promise<void> {
  const graph = ComponentGraph.forModel(model.config);
  const gm = new GradientModel(model.config, model.weights);
  try {
    const got = await edgeAttribution(dataOf(model, ps), gm, { scheme, metric: getMetric(metric), direction, steps }, graph.nSenders, graph.fanIn);
    const want = referenceAttribution(model, ps, scheme, metric, direction, steps, checked);
    const R = graph.nReceivers;
    const edges = [...graph.edges()].filter(checked);
    const scale = maxAbs(edges.map((e) => want[e.sender * R + e.receiver]!));
    expect(scale, 'scores must not all vanish').toBeGreaterThan(1e-4);
    let worst = 0;
    let worstEdge = '';
    for (const e of edges) {
      const diff = Math.abs(got[e.sender * R + e.receiver]! - want[e.sender * R + e.receiver]!);
      if (diff > worst) [worst, worstEdge] = [diff, graph.edgeName(e)];
    }
    expect(worst, `${scheme} ${metric} ${direction}: worst edge ${worstEdge}, scale ${scale}`).toBeLessThanOrEqual(1e-4 * scale);
    for (let s = 0; s < graph.nSenders; s++) for (let r = 0; r < R; r++) if (!graph.hasEdge(s, r)) expect(got[s * R + r]).toBeNaN();
  } finally {
    await gm.release();
  }
}

const models: { name: string; model: { config: ModelConfig; weights: ModelWeights } }[] = [
  { name: 'gpt2', model: randomModel('gpt2', { dModel: 16, nLayers: 2, nHeads: 4, vocabSize: 31 }, 3) },
  { name: 'llama GQA 4q/2kv', model: randomModel('llama', { dModel: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 29 }, 5) },
];

describe('edge attribution vs float64 finite differences', () => {
  for (const { name, model } of models) {
    const ps = pairs(model.config.vocabSize, 5, 2, 17);
    it(`${name}: eap, logit-diff, noising`, async () => {
      await expectMatchesReference(model, ps, 'eap', 'logit-diff');
    });
    it(`${name}: eap, prob, denoising`, async () => {
      await expectMatchesReference(model, ps, 'eap', 'prob', 'denoising');
    });
    it(`${name}: eap-ig-inputs (3 steps), kl, noising`, async () => {
      await expectMatchesReference(model, ps, 'eap-ig-inputs', 'kl', 'noising', 3);
    });
    it(`${name}: clean-corrupted, logit-diff`, async () => {
      await expectMatchesReference(model, ps, 'clean-corrupted', 'logit-diff');
    });
  }
});

describeShared('edge attribution on stories260K', () => {
  let model: ReferenceModel | undefined;
  afterAll(() => (model = undefined));
  // 2,461 edges and two reference forwards per edge and point: every edge for eap, every 6th (a
  // spread over every sender and receiver) for eap-ig-inputs keep the test near a minute.
  it('eap and eap-ig-inputs equal the reference finite differences', async () => {
    model ??= await loadModel(stories260kPath);
    const ps = pairs(model.config.vocabSize, 4, 1, 41);
    await expectMatchesReference(model, ps, 'eap', 'logit-diff', 'noising', 1);
    await expectMatchesReference(model, ps, 'eap-ig-inputs', 'logit-diff', 'noising', 2, (_e, i) => i % 6 === 0);
  }, 300_000);
});

describe('interpolation points', () => {
  it('give the same eap-ig-inputs scores stacked in one run as one run per point', async () => {
    const { model } = models[0]!;
    const graph = ComponentGraph.forModel(model.config);
    const ps = pairs(model.config.vocabSize, 5, 2, 23);
    const opts = { scheme: 'eap-ig-inputs' as const, metric: getMetric('kl'), direction: 'noising' as const, steps: 4 };
    const stacked = new GradientModel(model.config, model.weights);
    const single = new GradientModel(model.config, model.weights, { maxPointTokens: 1 });
    try {
      const a = await edgeAttribution(dataOf(model, ps), stacked, opts, graph.nSenders, graph.fanIn);
      const b = await edgeAttribution(dataOf(model, ps), single, opts, graph.nSenders, graph.fanIn);
      const scale = maxAbs([...a].filter((x) => !Number.isNaN(x)));
      expect(scale).toBeGreaterThan(0);
      a.forEach((x, i) => (Number.isNaN(x) ? expect(b[i]).toBeNaN() : expect(Math.abs(x - b[i]!)).toBeLessThanOrEqual(1e-5 * scale)));
    } finally {
      await stacked.release();
      await single.release();
    }
  });
});

/**
 * The reference of eap-ig-activations: for each node (the input, each layer's attention with all its
 * heads, each MLP) and step, the run at the base input with that node's output patched to the
 * interpolation c + alpha (b - c) on every edge out of it (a constant: nothing flows back through
 * it); the metric's central difference when receiver r's input moves by eps (c_s - b_s), carried by
 * the `input` sender's edge into r (whose source is set to its own value plus that difference).
 */
function referenceActivations(model: ReferenceModel, ps: PromptPair[], metric: MetricName, direction: Direction, steps: number): Float64Array {
  const { config: cfg, weights: w } = model;
  const graph = ComponentGraph.forModel(cfg);
  const { nSenders: S, nReceivers: R } = graph;
  const V = cfg.vocabSize;
  const out = new Float64Array(S * R);
  const nodes: (readonly number[])[] = [[]];
  for (let L = 0; L < cfg.nLayers; L++) {
    nodes.push(Array.from({ length: cfg.nHeads }, (_, h) => graph.headSender(L, h)));
    nodes.push([graph.mlpSender(L)]);
  }
  const alphas = attributionPoints('eap-ig-activations', steps);
  for (const pair of ps) {
    const cleanRun = referenceForward(model, { tokens: pair.clean });
    const cleanRow = new CleanRow(Float32Array.from(block(cleanRun.logits, V, pair)), V);
    const eClean = embed(w, cfg.dModel, pair.clean);
    const eCorrupt = embed(w, cfg.dModel, pair.corrupted);
    const [eBase, eSource] = direction === 'noising' ? [eClean, eCorrupt] : [eCorrupt, eClean];
    const base = referenceForward(model, { embeddings: eBase }).senders;
    const source = referenceForward(model, { embeddings: eSource }).senders;
    for (const node of nodes) {
      for (const alpha of alphas) {
        const isInput = node.length === 0;
        const x = isInput ? eSource.map((c, i) => c + alpha * (eBase[i]! - c)) : eBase;
        const fixed = new Set(node);
        const interpolated = source.map((c, s) => (fixed.has(s) ? c.map((v, i) => v + alpha * (base[s]![i]! - v)) : c));
        const here = referenceForward(model, { embeddings: x }, isInput ? undefined : { mask: senderMask(node), source: interpolated }).senders;
        for (const e of graph.edges()) {
          const delta = source[e.sender]!.map((v, i) => v - base[e.sender]![i]!);
          const metricAt = (m: number): number => {
            // Carrier: the input sender's edge into r, its source = its own value + delta.
            const src = interpolated.map((v, s) => (s === 0 ? here[0]!.map((h, i) => h + delta[i]!) : v));
            const mask = (s: number, r: number): number => (s === 0 && r === e.receiver ? m : fixed.has(s) ? 1 : 0);
            const res = referenceForward(model, { embeddings: x }, { mask, source: src });
            return score(metric, res.logits, V, pair, cleanRow);
          };
          const fd = (metricAt(EPS) - metricAt(-EPS)) / (2 * EPS);
          out[e.sender * R + e.receiver]! += fd / (alphas.length * nodes.length * ps.length);
        }
      }
    }
  }
  return out;
}

describe('eap-ig-activations vs float64 finite differences', () => {
  for (const { name, model } of models) {
    it(`${name}: logit-diff, noising, 2 steps`, async () => {
      const graph = ComponentGraph.forModel(model.config);
      const ps = pairs(model.config.vocabSize, 5, 2, 31);
      const gm = new GradientModel(model.config, model.weights);
      try {
        const got = await edgeAttribution(dataOf(model, ps), gm, { scheme: 'eap-ig-activations', metric: getMetric('logit-diff'), direction: 'noising', steps: 2 }, graph.nSenders, graph.fanIn);
        const want = referenceActivations(model, ps, 'logit-diff', 'noising', 2);
        const R = graph.nReceivers;
        const edges = [...graph.edges()];
        const scale = maxAbs(edges.map((e) => want[e.sender * R + e.receiver]!));
        expect(scale).toBeGreaterThan(1e-4);
        for (const e of edges) expect(Math.abs(got[e.sender * R + e.receiver]! - want[e.sender * R + e.receiver]!), graph.edgeName(e)).toBeLessThanOrEqual(1e-4 * scale);
      } finally {
        await gm.release();
      }
    }, 120_000);
  }
});
