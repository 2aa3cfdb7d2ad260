// The planted induction model: it solves the task through the ordinary runtime, its planted heads
// carry the behaviour under patching while every distractor barely matters, its ground truth names
// real edges (each needed, together sufficient), and it round-trips through the GPT-2 layout.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inductionAccuracy } from '../../src/cli/commands/plant.js';
import { UserError } from '../../src/core/errors.js';
import type { Edge } from '../../src/graph/component-graph.js';
import { sameBits } from '../../src/checkpoints/layout.js';
import { loadModel } from '../../src/checkpoints/load.js';
import { plantInductionModel, readGroundTruth, writePlanted } from '../../src/synthetic/planted.js';
import type { LoadedModel, Tensor } from '../../src/model/types.js';
import { EdgeMasks } from '../../src/runtime/masks.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { Random } from '../../src/core/random.js';

const planted = plantInductionModel();
const { model, groundTruth: gt } = planted;
const V = model.config.vocabSize;
const dir = mkdtempSync(join(tmpdir(), 'patchwise-planted-'));
let pm: PatchableModel;
beforeAll(() => {
  pm = new PatchableModel(model, { threads: 2 });
});
afterAll(async () => {
  await pm.release();
  rmSync(dir, { recursive: true, force: true });
});

describe('planted induction model', () => {
  it('solves induction on repeated random sequences, and only on the second copy', async () => {
    const acc = await inductionAccuracy(pm, { samples: 40, seed: 1 });
    expect(acc.secondCopy).toBeGreaterThanOrEqual(0.99);
    expect(acc.firstCopy).toBeLessThanOrEqual(0.05);
    // Up to the last position the table has (2 x 64 = 128).
    const long = await inductionAccuracy(pm, { samples: 2, minLength: 64, maxLength: 64, seed: 2 });
    expect(long.secondCopy).toBeGreaterThanOrEqual(0.99);
  });

  it('names ground-truth nodes and edges that exist in the component graph', () => {
    const g = pm.graph;
    expect(gt.heads).toEqual({ previousToken: 'a0.h3', induction: 'a1.h7' });
    for (const n of gt.nodes) expect(() => (n === 'logits' ? g.receiverIndex(n) : g.senderIndex(n))).not.toThrow();
    for (const e of [...gt.edges, ...gt.positionalEdges]) expect(g.edgeName(g.parseEdge(e))).toBe(e);
  });

  describe('under patching (denoising, every edge out of one sender, at every position)', () => {
    const L = 12;
    const k = 7; // prompt = seq + seq[0..k): the answer is seq[k], the last token seq[k - 1]
    const N = 6;
    /** `key`: the first copy's seq[k - 1] replaced; `second`: the second copy replaced (the induction task's `random`). */
    const prompts = (corruption: 'key' | 'second' | 'full') => {
      const rng = new Random(5);
      const pool = Array.from({ length: V }, (_, i) => i);
      return Array.from({ length: N }, () => {
        const seq = rng.sample(pool, L);
        const fresh = rng.sample(pool, L + k, new Set(seq));
        const key = seq.map((t, i) => (i === k - 1 ? fresh[0]! : t));
        const corrupted = { key: [...key, ...seq.slice(0, k)], second: [...seq, ...fresh.slice(0, k)], full: fresh }[corruption];
        return { clean: [...seq, ...seq.slice(0, k)], corrupted, answer: seq[k]! };
      });
    };
    const senders = () => pm.graph.senders.filter((s) => s.kind !== 'input');
    const outOf = (s: number): Edge[] => [...pm.graph.edges()].filter((e) => e.sender === s);

    /** P(answer) at the last position: clean, corrupted, and the corrupted run with each sender patched from clean. */
    async function denoiseEachSender(corruption: 'key' | 'second') {
      const ps = prompts(corruption);
      const clean = await pm.run({ tokens: ps.map((p) => p.clean) });
      const cor = await pm.run({ tokens: ps.map((p) => p.corrupted) });
      const masks = EdgeMasks.fromEdgeSets(
        pm.graph,
        senders().map((s) => outOf(s.index)),
      );
      const r = await pm.runPatched({ tokens: ps.map((p) => p.corrupted) }, { source: clean.cache, base: cor.cache, masks });
      const mean = (logits: Float32Array, kk = 0) => ps.reduce((a, p, b) => a + prob(logits, (kk * N + b) * V, p.answer), 0) / N;
      const pClean = mean(clean.logits);
      const pCor = mean(cor.logits);
      const effect = new Map(senders().map((s, kk) => [s.name, mean(r.logits, kk) - pCor]));
      return { pClean, pCor, effect };
    }

    it('key-token corruption: both planted heads restore the answer; each distractor moves P(answer) by < 1e-3', async () => {
      const { pClean, pCor, effect } = await denoiseEachSender('key');
      expect(pClean).toBeGreaterThan(0.99);
      expect(pCor).toBeLessThan(0.1);
      for (const h of [gt.heads.previousToken, gt.heads.induction]) expect(effect.get(h)! / (pClean - pCor)).toBeGreaterThan(0.95);
      const distractors = [...effect].filter(([n]) => n !== gt.heads.previousToken && n !== gt.heads.induction);
      expect(distractors).toHaveLength(24);
      for (const [name, e] of distractors) expect(Math.abs(e), name).toBeLessThan(1e-3);
      // A 2-SD rule over the 24 heads picks exactly the planted pair.
      const heads = [...effect].filter(([n]) => !n.startsWith('m'));
      const mu = heads.reduce((a, [, e]) => a + e, 0) / heads.length;
      const sd = Math.sqrt(heads.reduce((a, [, e]) => a + (e - mu) ** 2, 0) / (heads.length - 1));
      expect(heads.filter(([, e]) => Math.abs(e - mu) > 2 * sd).map(([n]) => n)).toEqual([gt.heads.previousToken, gt.heads.induction]);
    });

    it('second-copy corruption: only the induction head restores; the previous-token head cannot (its output differs only where nothing reads it)', async () => {
      const { pClean, pCor, effect } = await denoiseEachSender('second');
      expect(effect.get(gt.heads.induction)! / (pClean - pCor)).toBeGreaterThan(0.95);
      expect(Math.abs(effect.get(gt.heads.previousToken)!)).toBeLessThan(1e-3);
    });

    it('noising with a fully re-randomised prompt: the ground truth is sufficient and each of its edges is necessary', async () => {
      const ps = prompts('full');
      const g = pm.graph;
      const clean = await pm.run({ tokens: ps.map((p) => p.clean) });
      const cor = await pm.run({ tokens: ps.map((p) => p.corrupted) });
      const circuit = new Set([...gt.edges, ...gt.positionalEdges]);
      const rest = [...g.edges()].filter((e) => !circuit.has(g.edgeName(e)));
      const sets = [rest, ...gt.edges.map((e) => [g.parseEdge(e)]), gt.positionalEdges.map((e) => g.parseEdge(e))];
      const r = await pm.runPatched({ tokens: ps.map((p) => p.clean) }, { source: cor.cache, base: clean.cache, masks: EdgeMasks.fromEdgeSets(g, sets) });
      const mean = (logits: Float32Array, kk = 0) => ps.reduce((a, p, b) => a + prob(logits, (kk * N + b) * V, p.answer), 0) / N;
      const pClean = mean(clean.logits);
      expect(mean(r.logits, 0) / pClean).toBeGreaterThan(0.99); // everything but the circuit corrupted
      gt.edges.forEach((e, i) => expect(mean(r.logits, 1 + i), e).toBeLessThan(0.1)); // one circuit edge corrupted
      // Position-only edges carry the same thing in both runs: patching them changes nothing.
      expect(Math.abs(mean(r.logits, 1 + gt.edges.length) - pClean)).toBeLessThan(1e-4);
    });
  });

  it('writes the GPT-2 layout and ground-truth.json; loads back with identical logits', async () => {
    writePlanted(dir, planted);
    expect(readGroundTruth(dir)).toEqual(gt);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({ model_type: 'gpt2', n_embd: 384, n_layer: 2, n_head: 12, vocab_size: V, tie_word_embeddings: false, bos_token_id: null });
    const loaded = await loadModel(dir);
    expect(loaded.config).toEqual({ ...model.config, name: loaded.config.name });
    const a = flatten(model);
    const b = flatten(loaded);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [name, t] of a) expect(sameBits(t.data, b.get(name)!.data), name).toBe(true);
    const pm2 = new PatchableModel(loaded, { threads: 2 });
    try {
      const tokens = [[5, 9, 33, 40, 2, 5, 9, 33]];
      const x = await pm.run({ tokens }, 'all');
      const y = await pm2.run({ tokens }, 'all');
      expect(sameBits(x.logits, y.logits)).toBe(true);
    } finally {
      await pm2.release();
    }
  });

  it('is deterministic by seed; another seed gives other weights; the planted heads can be placed elsewhere', () => {
    const again = flatten(plantInductionModel({ seed: 0 }).model);
    const moved = plantInductionModel({ seed: 1, previousTokenHead: 0, inductionHead: 11 });
    expect(moved.groundTruth.edges).toContain('a0.h0->a1.h11<k>');
    const other = flatten(moved.model);
    for (const [name, t] of flatten(model)) {
      expect(sameBits(t.data, again.get(name)!.data), name).toBe(true);
      // Norm weights and biases are fixed (1 and 0); everything else follows the seed.
      if (!/ln|lnFinal/.test(name)) expect(sameBits(t.data, other.get(name)!.data), name).toBe(false);
    }
  });

  it('rejects options it cannot plant', () => {
    expect(() => plantInductionModel({ vocabSize: 65 })).toThrow(UserError);
    expect(() => plantInductionModel({ inductionHead: 12 })).toThrow(/inductionHead/);
    expect(() => plantInductionModel({ seed: 0.5 })).toThrow(UserError);
  });
});

function prob(logits: Float32Array, offset: number, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < V; i++) max = Math.max(max, logits[offset + i]!);
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(logits[offset + i]! - max);
  return Math.exp(logits[offset + token]! - max) / sum;
}

function flatten(m: LoadedModel): Map<string, Tensor> {
  const w = m.weights;
  const out = new Map<string, Tensor>([
    ['embed', w.embed],
    ['unembed', w.unembed],
  ]);
  if (w.posEmbed) out.set('posEmbed', w.posEmbed);
  w.layers.forEach((l, i) => {
    for (const [k, v] of Object.entries(l)) {
      if (k === 'ln1' || k === 'ln2') {
        const n = v as { weight: Tensor; bias?: Tensor };
        out.set(`${i}.${k}.weight`, n.weight);
        if (n.bias) out.set(`${i}.${k}.bias`, n.bias);
      } else if (v) {
        out.set(`${i}.${k}`, v as Tensor);
      }
    }
  });
  out.set('lnFinal.weight', w.lnFinal.weight);
  if (w.lnFinal.bias) out.set('lnFinal.bias', w.lnFinal.bias);
  return out;
}
