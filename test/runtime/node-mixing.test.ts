// Node mixing (src/runtime/node-mixing.ts): node patches are applied at the sender's output instead
// of per receiver. Every case is checked against the float64 reference, against the same masks with
// every layer in the per-receiver form, and (where it changes which senders mix) against a run from
// layer 0; and node-only masks must leave no per-receiver layer at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import type { LoadedModel } from '../../src/model/types.js';
import type { SenderCache } from '../../src/runtime/cache.js';
import { EdgeMasks } from '../../src/runtime/masks.js';
import { InstrumentedPatchableModel } from '../../src/runtime/testing.js';
import { referenceForward } from '../reference/patched-forward.js';
import { maxAbsDiff, randomModel, randomTokens } from '../reference/random-model.js';

const TOL = 1e-4;

for (const arch of ['gpt2', 'llama'] as const) {
  describe(`node mixing (${arch})`, () => {
    const { config, weights } = randomModel(arch, { dModel: 32, nLayers: 3, nHeads: 4, vocabSize: 97, maxPositions: 16 }, 7);
    const model: LoadedModel = { config, weights, source: { path: 'random', format: 'hf-safetensors' } };
    const graph = ComponentGraph.forModel(config);
    const T = 6;
    const clean = [randomTokens(T, 97, 1), randomTokens(T, 97, 2)];
    const corrupt = [randomTokens(T, 97, 3), randomTokens(T, 97, 4)];
    const V = config.vocabSize;
    let pm: InstrumentedPatchableModel;
    let base: SenderCache;
    let src: SenderCache;
    beforeAll(async () => {
      pm = new InstrumentedPatchableModel(model, { threads: 1 });
      base = (await pm.run({ tokens: corrupt }, 'all')).cache;
      src = (await pm.run({ tokens: clean }, 'all')).cache;
    });
    afterAll(async () => pm.release());

    const input = { tokens: corrupt };
    const head = (L: number, h: number) => graph.headSender(L, h);

    /** Every edge out of sender s set to v in configuration k (at one position, or all). */
    const nodePatch = (m: EdgeMasks, k: number, s: number, v: number, position?: number) => {
      for (let r = 0; r < graph.nReceivers; r++) if (graph.hasEdge(s, r)) m.set(k, s, r, v, position);
    };
    /** Every sender before layer L into every receiver from layer L on: the residual stream at L. */
    const residPatch = (m: EdgeMasks, k: number, L: number, v: number, position?: number) => {
      const r0 = L < graph.nLayers ? graph.layerReceiverStart(L) : graph.logitsReceiver;
      for (let s = 0; s < graph.layerSenderStart(L); s++) for (let r = r0; r < graph.nReceivers; r++) m.set(k, s, r, v, position);
    };

    const refSenders = async (cache: SenderCache, b: number) => {
      const stack = await pm.senderRows.stack(cache);
      const X = cache.batch * T * config.dModel;
      return graph.senders.map((s) => stack.subarray(s.index * X + b * T * config.dModel, s.index * X + (b + 1) * T * config.dModel));
    };

    /**
     * Runs `masks` as is and with every layer per receiver (also from layer 0 when `fromZero`), and
     * compares each configuration and prompt with the float64 reference.
     */
    const check = async (masks: EdgeMasks, opts: { plain?: boolean; startLayer?: number; fromZero?: boolean } = {}) => {
      const r = await pm.runPatched(input, { source: src, base, masks, positions: 'all' });
      if (opts.plain) expect(r.perReceiverLayers).toEqual([]);
      if (opts.startLayer !== undefined) expect(r.startLayer).toBe(opts.startLayer);
      const forced = await pm.runPatchedAllPerReceiver(input, { source: src, base, masks, positions: 'all' });
      expect(maxAbsDiff(forced.logits, r.logits)).toBeLessThan(TOL);
      if (opts.fromZero) {
        const full = await pm.runPatchedAllPerReceiver(input, { source: src, base, masks, positions: 'all', fromLayer: 0 });
        expect(maxAbsDiff(full.logits, r.logits)).toBeLessThan(TOL);
      }
      const per = masks.perPosition;
      for (let k = 0; k < masks.k; k++) {
        for (let b = 0; b < corrupt.length; b++) {
          const mask = (s: number, rr: number, t: number) => masks.get(k, s, rr, per ? t : undefined);
          const ref = referenceForward({ config, weights }, { tokens: corrupt[b]! }, { mask, source: await refSenders(src, b) });
          const off = (k * corrupt.length + b) * T * V;
          expect(maxAbsDiff(r.logits.subarray(off, off + T * V), ref.logits)).toBeLessThan(TOL);
        }
      }
      return r;
    };

    it('head node patches (K=3, heads of different layers, fractional values) run without per-receiver layers', async () => {
      const m = EdgeMasks.zeros(graph, 3);
      nodePatch(m, 0, head(0, 1), 1);
      nodePatch(m, 1, head(1, 3), 0.3);
      nodePatch(m, 2, head(0, 2), 0.7);
      nodePatch(m, 2, head(2, 0), -0.25); // two heads in one configuration; any value mixes
      await check(m, { plain: true, startLayer: 0, fromZero: true });
    });

    it('logits at the last position only: the last layer runs past attention at those rows alone', async () => {
      const m = EdgeMasks.zeros(graph, 3);
      nodePatch(m, 0, head(2, 1), 1); // the last layer: its z is the base run's, mixed, then gathered
      nodePatch(m, 1, graph.mlpSender(2), 0.5);
      nodePatch(m, 2, head(0, 3), 0.8);
      const r = await pm.runPatched(input, { source: src, base, masks: m, positions: 'last' });
      expect(r.perReceiverLayers).toEqual([]);
      const forced = await pm.runPatchedAllPerReceiver(input, { source: src, base, masks: m, positions: 'last' });
      expect(maxAbsDiff(forced.logits, r.logits)).toBeLessThan(TOL);
      for (let k = 0; k < m.k; k++) {
        for (let b = 0; b < corrupt.length; b++) {
          const ref = referenceForward({ config, weights }, { tokens: corrupt[b]! }, { mask: (s, rr) => m.get(k, s, rr), source: await refSenders(src, b) });
          const off = (k * corrupt.length + b) * V;
          expect(maxAbsDiff(r.logits.subarray(off, off + V), ref.logits.subarray((T - 1) * V, T * V))).toBeLessThan(TOL);
        }
      }
    });

    it('MLP node patches', async () => {
      const m = EdgeMasks.zeros(graph, 2);
      nodePatch(m, 0, graph.mlpSender(0), 0.3);
      nodePatch(m, 1, graph.mlpSender(1), 1);
      nodePatch(m, 1, graph.mlpSender(2), 0.5); // feeds only the logits
      await check(m, { plain: true, startLayer: 1, fromZero: true });
    });

    it('the input sender (mixed into the starting residual stream)', async () => {
      const m = EdgeMasks.zeros(graph, 2);
      nodePatch(m, 0, 0, 1);
      nodePatch(m, 1, 0, 0.4);
      nodePatch(m, 1, head(1, 2), 1);
      await check(m, { plain: true, startLayer: 0 });
    });

    it('all senders before layer L into everything from L on (residual patch), L = 1, 2 and the logits', async () => {
      for (const L of [1, 2, 3]) {
        const m = EdgeMasks.zeros(graph, 2);
        residPatch(m, 0, L, 1);
        residPatch(m, 1, L, 0.3);
        // A run of the logits alone mixes nothing: its edges are patched at the gathered positions.
        const r = await check(m, { plain: L < graph.nLayers, startLayer: L, fromZero: true });
        if (L === graph.nLayers) expect(r.perReceiverLayers).toEqual([graph.nLayers]);
      }
      // Most senders before the first layer mixed with 1 (a late ACDC state): the starting stream's
      // shift is taken from the streams' difference, less the senders that are not mixed.
      const most = EdgeMasks.zeros(graph, 1);
      residPatch(most, 0, 2, 1);
      for (const s of [0, head(0, 2), graph.mlpSender(1)]) for (let r = graph.layerReceiverStart(2); r < graph.nReceivers; r++) if (graph.hasEdge(s, r)) most.set(0, s, r, 0);
      await check(most, { plain: true, startLayer: 2, fromZero: true });
      // Senders mixed before the first layer beside edge entries taken from the kept side (the
      // other senders of layer 0 patched into all of layer 1, not quite all of layer 2): the mixed
      // senders' src - base rows must count once, in the stream.
      const late = EdgeMasks.zeros(graph, 1);
      for (const s of [0, head(0, 0)]) for (let r = graph.layerReceiverStart(1); r < graph.nReceivers; r++) late.set(0, s, r, 1);
      for (const s of [head(0, 1), head(0, 2), head(0, 3), graph.mlpSender(0)]) {
        for (let r = graph.layerReceiverStart(1); r < graph.nReceivers; r++) if (r !== graph.layerReceiverStart(2) + (s % 3)) late.set(0, s, r, 1);
      }
      await check(late, { startLayer: 1, fromZero: true });
      // Configurations with different L: the later one's senders are not all node patches from the earlier L.
      const m = EdgeMasks.zeros(graph, 3);
      residPatch(m, 0, 1, 1);
      residPatch(m, 1, 2, 1);
      residPatch(m, 2, 3, 0.6);
      await check(m, { startLayer: 1, fromZero: true });
    });

    it('per-position node patches (a head at one position, an MLP and the input at others)', async () => {
      const m = EdgeMasks.zeros(graph, 2, T);
      nodePatch(m, 0, head(0, 1), 1, 2);
      nodePatch(m, 1, graph.mlpSender(1), 0.5, 4);
      nodePatch(m, 1, 0, 1, 0);
      nodePatch(m, 1, 0, 0.3, 5);
      await check(m, { plain: true, startLayer: 0 });
      // The residual stream at layer 2, at one or two positions.
      const resid = EdgeMasks.zeros(graph, 2, T);
      residPatch(resid, 0, 2, 1, 3);
      residPatch(resid, 1, 2, 0.5, 1);
      residPatch(resid, 1, 2, 1, 5);
      await check(resid, { plain: true, startLayer: 2, fromZero: true });
    });

    for (const perPosition of [false, true]) {
      it(`a per-receiver layer computes only the senders something reads${perPosition ? ' (per position)' : ''}`, async () => {
        // Heads 0 and 2 of layer 1 carry the source's output everywhere (mixed with 1 in every
        // configuration and at every position), the MLP of layer 1 too in the second mask: their
        // receivers get no inputs. Edge entries keep layer 1 per-receiver.
        for (const mlpUnread of [false, true]) {
          const m = perPosition ? EdgeMasks.zeros(graph, 2, T) : EdgeMasks.zeros(graph, 2);
          const all = perPosition ? Array.from({ length: T }, (_, t) => t) : [undefined];
          for (let k = 0; k < 2; k++) {
            for (const t of all) {
              for (const s of [head(1, 0), head(1, 2), ...(mlpUnread ? [graph.mlpSender(1)] : [])]) nodePatch(m, k, s, 1, t);
            }
            const at = perPosition ? 2 + k : undefined;
            m.set(k, 0, graph.headInputReceiver(1, 1, 'q'), 1, at);
            m.set(k, head(0, 3), graph.headInputReceiver(1, 3, 'v'), 0.5, at);
            m.set(k, head(0, k), graph.mlpReceiver(1), 1, at);
            m.set(k, head(1, 1), graph.headInputReceiver(2, 0, 'k'), 1, at);
          }
          const r = await check(m, { startLayer: 1, fromZero: true });
          expect(r.perReceiverLayers).toContain(1);
        }
      });

      it(`node patches and edge-specific entries in one mask${perPosition ? ' (per position)' : ''}`, async () => {
        const at = (t: number) => (perPosition ? t : undefined);
        const m = EdgeMasks.zeros(graph, 4, perPosition ? T : undefined);
        // 0: a node patch and an unrelated edge.
        nodePatch(m, 0, head(0, 2), 1, at(1));
        m.set(0, head(1, 0), graph.headInputReceiver(2, 3, 'q'), 1, at(4));
        // 1: a sender patched into some receivers only (no node patch), and an MLP node patch.
        m.set(1, head(0, 2), graph.headInputReceiver(1, 1, 'k'), 1, at(3));
        m.set(1, head(0, 2), graph.logitsReceiver, 0.5, at(3));
        nodePatch(m, 1, graph.mlpSender(1), 0.3, at(2));
        // 2: a node patch with one edge overridden (so not a node patch), and a node patch of m0.
        nodePatch(m, 2, head(1, 1), 0.5, at(5));
        m.set(2, head(1, 1), graph.logitsReceiver, 1, at(5));
        nodePatch(m, 2, graph.mlpSender(0), 1, at(0));
        // 3: the residual stream at layer 2, while an early sender also feeds layer 2 on one edge.
        residPatch(m, 3, 2, 1, at(3));
        m.set(3, head(0, 1), graph.headInputReceiver(2, 0, 'k'), 0.2, at(5));
        const r = await check(m, { fromZero: true });
        expect(r.perReceiverLayers?.length).toBeGreaterThan(0);
      });
    }

    it('a residual patch before the start layer with edge entries in another configuration', async () => {
      const m = EdgeMasks.zeros(graph, 2);
      residPatch(m, 0, 2, 0.8);
      m.set(1, head(0, 1), graph.headInputReceiver(2, 0, 'k'), 1);
      m.set(1, 0, graph.logitsReceiver, 1);
      const r = await check(m, { startLayer: 2, fromZero: true });
      expect(r.perReceiverLayers).toEqual([2, graph.nLayers]);
    });

    it('node patches in chunks equal one pass', async () => {
      const m = EdgeMasks.zeros(graph, 5);
      for (let k = 0; k < 5; k++) nodePatch(m, k, head(k % 3, k % 4), 0.2 * (k + 1));
      const one = await pm.runPatched(input, { source: src, base, masks: m, positions: 'all' });
      const chunked = await pm.runPatched(input, { source: src, base, masks: m, positions: 'all', maxRows: 4 });
      expect(maxAbsDiff(chunked.logits, one.logits)).toBeLessThan(TOL);
      expect(chunked.perReceiverLayers).toEqual([]);
    });
  });
}
