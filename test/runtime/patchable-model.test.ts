// The fast runtime against the float64 reference (test/reference), and the invariants of
// docs/design.md section 2, on random GPT-2 and Llama models.
import { afterAll, describe, expect, it } from 'vitest';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import type { LoadedModel, ModelConfig, ModelWeights } from '../../src/model/types.js';
import { EdgeMasks } from '../../src/runtime/masks.js';
import { InstrumentedPatchableModel } from '../../src/runtime/testing.js';
import { referenceForward, type Mask } from '../reference/patched-forward.js';
import { Random } from '../../src/core/random.js';
import { maxAbsDiff, randomModel, randomTokens } from '../reference/random-model.js';

const TOL = 1e-4;

/**
 * A runtime (one thread) over a random model, released after the enclosing block, with its graph
 * and two clean and two corrupted prompts of T tokens (token seeds from `seed` on).
 */
function runtimeOver(config: ModelConfig, weights: ModelWeights, T: number, seed: number) {
  const model: LoadedModel = { config, weights, source: { path: 'random', format: 'hf-safetensors' } };
  const pm = new InstrumentedPatchableModel(model, { threads: 1 });
  afterAll(async () => pm.release());
  const prompts = (first: number) => [randomTokens(T, config.vocabSize, first), randomTokens(T, config.vocabSize, first + 1)];
  return { pm, graph: ComponentGraph.forModel(config), clean: prompts(seed), corrupt: prompts(seed + 2) };
}

for (const arch of ['gpt2', 'llama'] as const) {
  describe(`patchable runtime (${arch})`, () => {
    const { config, weights } = randomModel(arch, { dModel: 32, nLayers: 3, nHeads: 4, vocabSize: 97, maxPositions: 16 }, 7);
    const T = 6;
    const { pm, graph, clean, corrupt } = runtimeOver(config, weights, T, 1);

    const refOf = (tokens: number[], mask?: Mask, source?: ArrayLike<number>[][], b = 0) =>
      referenceForward({ config, weights }, { tokens }, mask && source ? { mask, source: source[b]! } : undefined);

    /** Sender outputs of prompt b of a cache, as the reference expects them ([S][T*d]). */
    const refSenders = async (cache: Awaited<ReturnType<InstrumentedPatchableModel['run']>>['cache'], b: number) => {
      const stack = await pm.senderRows.stack(cache);
      const X = cache.batch * cache.seqLen * cache.dModel;
      const row = cache.seqLen * cache.dModel;
      return graph.senders.map((s) => stack.subarray(s.index * X + b * row, s.index * X + (b + 1) * row));
    };

    it('plain run matches the float64 reference (logits at every position and every sender)', async () => {
      const { logits, cache } = await pm.run({ tokens: clean }, 'all');
      for (let b = 0; b < clean.length; b++) {
        const ref = refOf(clean[b]!);
        const V = config.vocabSize;
        expect(maxAbsDiff(logits.subarray(b * T * V, (b + 1) * T * V), ref.logits)).toBeLessThan(TOL);
        const ours = await refSenders(cache, b);
        ref.senders.forEach((s, i) => expect(maxAbsDiff(ours[i]!, s)).toBeLessThan(TOL));
      }
    });

    it('the one-graph plain forward equals the layered run', async () => {
      const a = await pm.plainForward({ tokens: clean }, 'all');
      const { logits } = await pm.run({ tokens: clean }, 'all');
      expect(maxAbsDiff(a, logits)).toBeLessThan(TOL);
    });

    it('mask 0 reproduces the base run; mask 1 on every edge reproduces the source run', async () => {
      const base = await pm.run({ tokens: corrupt }, 'all');
      const src = await pm.run({ tokens: clean }, 'all');
      const zero = await pm.runPatchedAllPerReceiver(
        { tokens: corrupt },
        {
          source: src.cache,
          base: base.cache,
          masks: EdgeMasks.zeros(graph, 1),
          positions: 'all',
          fromLayer: 0,
        },
      );
      expect(maxAbsDiff(zero.logits, base.logits)).toBeLessThan(TOL);
      const ones = await pm.runPatched({ tokens: corrupt }, { source: src.cache, base: base.cache, masks: EdgeMasks.allEdges(graph), positions: 'all' });
      expect(maxAbsDiff(ones.logits, src.logits)).toBeLessThan(TOL);
    });

    it('patching every sender into the logits equals patching the whole residual stream', async () => {
      const base = await pm.run({ tokens: corrupt }, 'all');
      const src = await pm.run({ tokens: clean }, 'all');
      const m = EdgeMasks.zeros(graph, 1);
      for (let s = 0; s < graph.nSenders; s++) m.set(0, s, graph.logitsReceiver, 1);
      const r = await pm.runPatched({ tokens: corrupt }, { source: src.cache, base: base.cache, masks: m, positions: 'all' });
      expect(maxAbsDiff(r.logits, src.logits)).toBeLessThan(TOL);
    });

    for (const perPosition of [false, true]) {
      it(`random continuous masks (K=3${perPosition ? ', per position' : ''}) match the reference; batched = one at a time`, async () => {
        const base = await pm.run({ tokens: corrupt }, 'all');
        const src = await pm.run({ tokens: clean }, 'all');
        const random = new Random(perPosition ? 11 : 5);
        const u = () => random.uniform();
        const K = 3;
        const masks = EdgeMasks.zeros(graph, K, perPosition ? T : undefined);
        for (let k = 0; k < K; k++) {
          for (const e of graph.edges()) {
            if (perPosition) {
              for (let t = 0; t < T; t++) if (u() < 0.15) masks.set(k, e.sender, e.receiver, u(), t);
            } else if (u() < 0.15) masks.set(k, e.sender, e.receiver, u());
          }
        }
        const all = await pm.runPatched({ tokens: corrupt }, { source: src.cache, base: base.cache, masks, positions: 'all' });
        const chunked = await pm.runPatched({ tokens: corrupt }, { source: src.cache, base: base.cache, masks, positions: 'all', maxRows: 2 });
        expect(maxAbsDiff(chunked.logits, all.logits)).toBeLessThan(TOL);
        const V = config.vocabSize;
        for (let k = 0; k < K; k++) {
          for (let b = 0; b < corrupt.length; b++) {
            const mask: Mask = (s, r, t) => masks.get(k, s, r, perPosition ? t : undefined);
            const ref = refOf(corrupt[b]!, mask, [await refSenders(src.cache, 0), await refSenders(src.cache, 1)], b);
            const off = (k * corrupt.length + b) * T * V;
            expect(maxAbsDiff(all.logits.subarray(off, off + T * V), ref.logits)).toBeLessThan(TOL);
          }
          const one = EdgeMasks.fromData(graph, 1, masks.data.slice(k * (masks.data.length / K), (k + 1) * (masks.data.length / K)), perPosition ? T : undefined);
          const single = await pm.runPatched({ tokens: corrupt }, { source: src.cache, base: base.cache, masks: one, positions: 'all' });
          const n = corrupt.length * T * V;
          expect(maxAbsDiff(single.logits, all.logits.subarray(k * n, (k + 1) * n))).toBeLessThan(TOL);
        }
      });
    }

    for (const perPosition of [false, true]) {
      it(`head receivers that share one mask column take the shared-input form and match the reference${perPosition ? ' (per position)' : ''}`, async () => {
        const base = await pm.run({ tokens: corrupt }, 'all');
        const src = await pm.run({ tokens: clean }, 'all');
        const H = config.nHeads;
        const masks = EdgeMasks.zeros(graph, 2, perPosition ? T : undefined);
        const intoHeads = (k: number, s: number, v: number, t?: number) => {
          for (let r = graph.layerReceiverStart(2); r < graph.layerReceiverStart(2) + 3 * H; r++) masks.set(k, s, r, v, t);
        };
        // Not node patches: the same senders' edges into the MLP receivers differ.
        intoHeads(0, graph.headSender(0, 1), 0.5, perPosition ? 3 : undefined);
        intoHeads(0, graph.senderIndex('input'), 1, perPosition ? 1 : undefined);
        intoHeads(1, graph.mlpSender(1), 0.75, perPosition ? 4 : undefined);
        masks.set(1, graph.mlpSender(0), graph.mlpReceiver(2), 0.3, perPosition ? 5 : undefined);
        const r = await pm.runPatched({ tokens: corrupt }, { source: src.cache, base: base.cache, masks, positions: 'all' });
        expect(r.perReceiverLayers).toEqual([2]);
        const V = config.vocabSize;
        for (let k = 0; k < 2; k++) {
          for (let b = 0; b < corrupt.length; b++) {
            const mask: Mask = (s, rr, t) => masks.get(k, s, rr, perPosition ? t : undefined);
            const ref = refOf(corrupt[b]!, mask, [await refSenders(src.cache, 0), await refSenders(src.cache, 1)], b);
            const off = (k * corrupt.length + b) * T * V;
            expect(maxAbsDiff(r.logits.subarray(off, off + T * V), ref.logits)).toBeLessThan(TOL);
          }
        }
      });
    }

    for (const variant of ['all positions', 'per position', 'after a node patch'] as const) {
      it(`masks with most edges patched (the patch term from the kept side) match the reference (${variant})`, async () => {
        const base = await pm.run({ tokens: corrupt }, 'all');
        const src = await pm.run({ tokens: clean }, 'all');
        const perPosition = variant === 'per position';
        const random = new Random(perPosition ? 23 : 19);
        const u = (): number => random.uniform();
        const K = 2;
        const masks = EdgeMasks.zeros(graph, K, perPosition ? T : undefined);
        const input = graph.senderIndex('input');
        for (let k = 0; k < K; k++) {
          for (const e of graph.edges()) {
            // Most edges 1, a few kept (0) or partly patched, so that few senders have an entry other
            // than 1 into a layer; every edge into the logits kept, so that none is a node patch.
            // 'after a node patch': nothing into layer 0, and the input patched as a node from layer 1
            // on (mixed into the stream the run starts from).
            if (variant === 'after a node patch' && graph.receiverLayer(e.receiver) === 0) continue;
            const nodeInput = variant === 'after a node patch' && e.sender === input;
            const value = () => (nodeInput ? 0.5 + 0.25 * k : e.receiver === graph.logitsReceiver ? 0 : u() < 0.99 ? 1 : u() < 0.5 ? 0 : u());
            if (perPosition) for (let t = 0; t < T; t++) masks.set(k, e.sender, e.receiver, value(), t);
            else masks.set(k, e.sender, e.receiver, value());
          }
        }
        const r = await pm.runPatched({ tokens: corrupt }, { source: src.cache, base: base.cache, masks, positions: 'all' });
        if (variant === 'after a node patch') expect(r.startLayer).toBe(1);
        const V = config.vocabSize;
        for (let k = 0; k < K; k++) {
          for (let b = 0; b < corrupt.length; b++) {
            const mask: Mask = (s, rr, t) => masks.get(k, s, rr, perPosition ? t : undefined);
            const ref = refOf(corrupt[b]!, mask, [await refSenders(src.cache, 0), await refSenders(src.cache, 1)], b);
            const off = (k * corrupt.length + b) * T * V;
            expect(maxAbsDiff(r.logits.subarray(off, off + T * V), ref.logits)).toBeLessThan(TOL);
          }
        }
      });
    }

    it('starting at layer l from the cached prefix equals recomputing from layer 0', async () => {
      const base = await pm.run({ tokens: corrupt }, 'last');
      const src = await pm.run({ tokens: clean }, 'last');
      const m = EdgeMasks.zeros(graph, 2);
      m.set(0, graph.headSender(0, 1), graph.headInputReceiver(2, 3, 'k'), 1);
      m.set(1, graph.mlpSender(0), graph.mlpReceiver(2), 0.5);
      m.set(1, graph.senderIndex('input'), graph.logitsReceiver, 1);
      const fast = await pm.runPatched({ tokens: corrupt }, { source: src.cache, base: base.cache, masks: m });
      expect(fast.startLayer).toBe(2);
      const full = await pm.runPatchedAllPerReceiver({ tokens: corrupt }, { source: src.cache, base: base.cache, masks: m, fromLayer: 0 });
      expect(full.startLayer).toBe(0);
      expect(maxAbsDiff(fast.logits, full.logits)).toBeLessThan(TOL);
    });
  });
}

describe('patchable runtime, a GPT-2 layout with q and k biased and v not', () => {
  // Some checkpoints bias only some of q, k and v: the projections add zeros for the missing one.
  // (v is the one left out: a bias on k shifts every score of a query alike, which softmax ignores.)
  const { config, weights: biased } = randomModel('gpt2', { dModel: 32, nLayers: 3, nHeads: 4, vocabSize: 97, maxPositions: 16 }, 9);
  const weights = { ...biased, layers: biased.layers.map(({ bv: _unused, ...layer }) => layer) };
  const T = 5;
  const { pm, graph, clean, corrupt } = runtimeOver(config, weights, T, 21);

  it('plain runs and random masks on every layer per receiver match the float64 reference', async () => {
    const base = await pm.run({ tokens: corrupt }, 'all');
    const src = await pm.run({ tokens: clean }, 'all');
    const V = config.vocabSize;
    corrupt.forEach((tokens, b) => {
      expect(maxAbsDiff(base.logits.subarray(b * T * V, (b + 1) * T * V), referenceForward({ config, weights }, { tokens }).logits)).toBeLessThan(TOL);
    });
    const random = new Random(3);
    const masks = EdgeMasks.zeros(graph, 1);
    for (const e of graph.edges()) if (random.uniform() < 0.5) masks.set(0, e.sender, e.receiver, random.uniform());
    const r = await pm.runPatchedAllPerReceiver({ tokens: corrupt }, { source: src.cache, base: base.cache, masks, positions: 'all', fromLayer: 0 });
    const stack = await pm.senderRows.stack(src.cache);
    const X = src.cache.batch * T * config.dModel;
    for (let b = 0; b < corrupt.length; b++) {
      const source = graph.senders.map((s) => stack.subarray(s.index * X + b * T * config.dModel, s.index * X + (b + 1) * T * config.dModel));
      const ref = referenceForward({ config, weights }, { tokens: corrupt[b]! }, { mask: (s, rr) => masks.get(0, s, rr), source });
      expect(maxAbsDiff(r.logits.subarray(b * T * V, (b + 1) * T * V), ref.logits)).toBeLessThan(TOL);
    }
  });
});
