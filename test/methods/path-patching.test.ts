// Path patching against the float64 reference: every sender's effect on a receiver set, per row,
// at all positions, one absolute position and a per-pair role position, both directions; plus
// consistency checks that hold exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headInputs, type PathPosition, pathPatch } from '../../src/methods/path-patching.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { EdgeMasks } from '../../src/runtime/masks.js';
import type { Direction, MetricName } from '../../src/core/vocabulary.js';
import { getMetric } from '../../src/experiment/metrics.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { referenceForward } from '../reference/patched-forward.js';
import { Reference, T, refScore, smallDataset, smallModel } from './fixtures.js';

const TOL = 1e-4;

describe('path patching on a small random GPT-2', () => {
  const model = smallModel();
  const dataset = smallDataset(4);
  let pm: PatchableModel;
  let runs: Experiment;
  let ref: Reference;
  beforeAll(async () => {
    pm = new PatchableModel(model, { threads: 1 });
    runs = await Experiment.prepare(pm, dataset);
    ref = new Reference(model, pm.graph, dataset);
  });
  afterAll(async () => pm.release());

  const refBaseline = (metric: string) => {
    const clean = dataset.pairs.map((p, b) => refScore(metric, ref.row(ref.clean[b]!, p), ref.row(ref.clean[b]!, p), p));
    const corrupted = dataset.pairs.map((p, b) => refScore(metric, ref.row(ref.corrupted[b]!, p), ref.row(ref.clean[b]!, p), p));
    return { clean, corrupted };
  };

  const cases: { receivers: string[]; position: PathPosition; metric: MetricName; direction: Direction }[] = [
    { receivers: ['logits'], position: 'all', metric: 'logit-diff', direction: 'noising' },
    { receivers: ['a1.h0<q>', 'a1.h1<q>'], position: 'all', metric: 'kl', direction: 'noising' },
    { receivers: ['m1', 'a1.h1<v>'], position: 3, metric: 'logit-diff', direction: 'denoising' },
    { receivers: ['a1.h0<k>', 'a1.h1<k>'], position: { role: 'MID' }, metric: 'kl', direction: 'noising' },
  ];
  for (const c of cases) {
    it(`${c.receivers.join(' + ')} at ${JSON.stringify(c.position)}, ${c.metric}, ${c.direction}: every sender's effect matches the reference`, async () => {
      const g = pm.graph;
      const res = await pathPatch(runs, { receivers: c.receivers, position: c.position, metric: c.metric, direction: c.direction, batch: 3 });
      const rset = c.receivers.map((n) => g.receiverIndex(n));
      const maxFan = Math.max(...rset.map((r) => g.fanIn[r]!));
      expect(res.effects.map((e) => e.sender)).toEqual(Array.from({ length: maxFan }, (_, s) => s));
      const base = refBaseline(c.metric);
      const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
      const norm = getMetric(c.metric).normalised ? mean(base.clean) - mean(base.corrupted) : 1;
      expect(Math.abs(res.normaliser - norm)).toBeLessThan(TOL);
      const baseRows = c.direction === 'noising' ? base.clean : base.corrupted;
      for (const e of res.effects) {
        const scores = dataset.pairs.map((p) => {
          const at = c.position === 'all' ? undefined : typeof c.position === 'number' ? c.position : p.roles[c.position.role]!;
          const one = new Reference(model, g, { ...dataset, pairs: [p] });
          return one.scores(c.metric, c.direction, (s, r, t) => (s === e.sender && rset.includes(r) && g.hasEdge(s, r) && (at === undefined || t === at) ? 1 : 0))[0]!;
        });
        const perRow = scores.map((s, b) => (s - baseRows[b]!) / norm);
        perRow.forEach((v, b) => expect(Math.abs(e.perRow[b]! - v), `${e.name} row ${b}`).toBeLessThan(TOL));
        expect(Math.abs(e.effect - mean(perRow))).toBeLessThan(TOL);
      }
      expect(res.effects.some((e) => Math.abs(e.effect) > 1e-3)).toBe(true);
    });
  }

  it('a path into the logits at a position the metric does not read has no effect at all', async () => {
    const res = await pathPatch(runs, { receivers: ['logits'], position: 2, metric: 'kl' });
    for (const e of res.effects) expect(e.effect).toBe(0);
  });

  it('a sender patched into every receiver it feeds equals node patching of that sender', async () => {
    const g = pm.graph;
    const s = g.headSender(0, 1);
    const feeds = g.receivers.filter((r) => g.hasEdge(s, r.index)).map((r) => r.index);
    const res = await pathPatch(runs, { receivers: feeds, senders: ['a0.h1'], metric: 'logit-diff' });
    const node = EdgeMasks.zeros(g, 1);
    for (const r of feeds) node.set(0, s, r, 1);
    const metric = getMetric('logit-diff');
    const patched = (await runs.meanScores(node, { direction: 'noising', metric }))[0]!;
    expect(Math.abs(res.effects[0]!.effect - (patched - res.baseScore) / res.normaliser)).toBeLessThan(1e-6);
  });

  it('batch size does not change effects; headInputs names receivers', async () => {
    const g = pm.graph;
    const receivers = headInputs(
      g,
      [
        [1, 0],
        [1, 1],
      ],
      'v',
    );
    expect(receivers.map((r) => g.receivers[r]!.name)).toEqual(['a1.h0<v>', 'a1.h1<v>']);
    const a = await pathPatch(runs, { receivers, batch: 1, metric: 'kl' });
    const b = await pathPatch(runs, { receivers, batch: 16, metric: 'kl' });
    a.effects.forEach((e, i) => expect(Math.abs(e.effect - b.effects[i]!.effect)).toBeLessThan(1e-6));
  });

  it('Gaussian noising: one row per pair and noise sample; effects match the reference on the noisy embeddings', async () => {
    const g = pm.graph;
    const gn = await Experiment.prepare(pm, dataset, { corruption: { kind: 'gn', noise: { multiplier: 3, samples: 2, seed: 5, sigmaFrom: 'vocabulary' } } });
    expect(gn.nRows).toBe(8);
    const res = await pathPatch(gn, { receivers: ['logits'], metric: 'kl', senders: ['input', 'a1.h0'] });
    const [group] = gn.groups;
    const input = group!.corruptedInput;
    if (!('embeddings' in input)) throw new Error('GN makes embeddings');
    const d = model.config.dModel;
    const V = model.config.vocabSize;
    for (const e of res.effects) {
      gn.rows.forEach((row, b) => {
        const p = row.pair;
        const cleanRef = referenceForward(model, { tokens: p.clean });
        const noisy = referenceForward(model, { embeddings: input.embeddings.subarray(b * T * d, (b + 1) * T * d) });
        const patched = referenceForward(model, { tokens: p.clean }, { source: noisy.senders, mask: (s, r) => (s === e.sender && r === g.logitsReceiver ? 1 : 0) });
        const at = (x: Float64Array) => x.subarray(p.targets[0]!.position * V, (p.targets[0]!.position + 1) * V);
        const want = refScore('kl', at(patched.logits), at(cleanRef.logits), p) - refScore('kl', at(cleanRef.logits), at(cleanRef.logits), p);
        expect(Math.abs(e.perRow[b]! - want), `${e.name} row ${b}`).toBeLessThan(TOL);
      });
    }
    // Noise only at positions 1 and 3: `input` reaches the logits (read at the last position) only through heads.
    expect(res.effects[0]!.effect).toBe(0);
    expect(Math.abs(res.effects[1]!.effect)).toBeGreaterThan(1e-3);
  });

  it("zero ablation: every sender's path into a receiver set, patched with zeros, matches the reference", async () => {
    const g = pm.graph;
    const zero = await Experiment.prepare(pm, dataset, { corruption: { kind: 'zero' } });
    const receivers = ['a1.h0<q>', 'logits'];
    const res = await pathPatch(zero, { receivers, metric: 'kl', direction: 'noising' });
    const rset = receivers.map((n) => g.receiverIndex(n));
    const V = model.config.vocabSize;
    const zeros = g.senders.map(() => new Float64Array(T * model.config.dModel));
    for (const e of res.effects) {
      dataset.pairs.forEach((p, b) => {
        const cleanRef = referenceForward(model, { tokens: p.clean });
        const patched = referenceForward(model, { tokens: p.clean }, { source: zeros, mask: (s, r) => (s === e.sender && rset.includes(r) && g.hasEdge(s, r) ? 1 : 0) });
        const at = (x: Float64Array) => x.subarray(p.targets[0]!.position * V, (p.targets[0]!.position + 1) * V);
        const want = refScore('kl', at(patched.logits), at(cleanRef.logits), p) - refScore('kl', at(cleanRef.logits), at(cleanRef.logits), p);
        expect(Math.abs(e.perRow[b]! - want), `${e.name} row ${b}`).toBeLessThan(TOL);
      });
    }
    expect(res.effects.some((e) => Math.abs(e.effect) > 1e-3)).toBe(true);
  });

  it('rejects a sender that feeds none of the receivers', async () => {
    await expect(pathPatch(runs, { receivers: ['a0.h0<q>'], senders: ['m1'] })).rejects.toThrow(/feeds none/);
  });
});
