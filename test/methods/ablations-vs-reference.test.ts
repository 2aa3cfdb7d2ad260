// Zero, mean and resample ablation end to end against the float64 reference: every component's
// effect on every pair, computed by node patching through the Experiment, and independently by one
// reference forward per patch whose source is built by hand: zeros, the per-position mean of the
// reference forwards of the dataset's corrupted prompts, or the reference forward of another
// prompt of the same length.
import { afterAll, describe, expect, it } from 'vitest';
import type { AblationCorruption, Direction, GranularityName } from '../../src/core/vocabulary.js';
import { getGranularity } from '../../src/experiment/components.js';
import { resamplePartners } from '../../src/experiment/corruption.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { getMetric } from '../../src/experiment/metrics.js';
import { SILENT } from '../../src/methods/method.js';
import { nodePatching } from '../../src/methods/node-patching.js';
import type { LoadedModel } from '../../src/model/types.js';
import { EdgeMasks } from '../../src/runtime/masks.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { buildDataset } from '../../src/tasks/registry.js';
import type { Dataset, PromptPair } from '../../src/tasks/types.js';
import { onesMask, referenceForward, type ReferenceResult } from '../reference/patched-forward.js';
import { randomModel, randomTokens } from '../reference/random-model.js';
import { referenceMask, scores } from './reference-components.js';

const TOL = 1e-4;

interface AblationCase {
  readonly corruption: AblationCorruption;
  readonly direction: Direction;
  readonly granularity: GranularityName;
  readonly window: number;
  /** Mean ablation's reference prompts (default: the dataset's corrupted prompts). */
  readonly meanReference?: readonly (readonly number[])[];
}

describe('ablations vs the float64 reference (random GPT-2)', () => {
  const { config, weights } = randomModel('gpt2', { dModel: 32, nLayers: 3, nHeads: 4, vocabSize: 64, maxPositions: 32 }, 21);
  const loaded: LoadedModel = { config, weights, source: { path: 'random', format: 'hf-safetensors' } };
  const pm = new PatchableModel(loaded, { threads: 1 });
  afterAll(async () => pm.release());
  const refModel = { config, weights };
  const V = config.vocabSize;
  const d = config.dModel;
  // Two lengths (the induction task with a random cut), so resampling partners stay within a length.
  const dataset: Dataset = buildDataset({ vocabSize: V, dataDir: 'data' }, { task: 'induction', options: { length: 5, cut: 'random' }, seed: 3, count: 6 });

  /** The patch source of a pair under an ablation, by hand: one array [T * d] per sender. */
  function referenceSource(c: AblationCorruption, pair: PromptPair, meanReference?: readonly (readonly number[])[]): readonly Float64Array[] {
    const T = pair.clean.length;
    const S = pm.graph.nSenders;
    if (c.kind === 'zero') return Array.from({ length: S }, () => new Float64Array(T * d));
    if (c.kind === 'resample') return referenceForward(refModel, { tokens: resamplePartner(c, pair).clean }).senders;
    // Mean over the corrupted prompts longer than each position.
    const sums = Array.from({ length: S }, () => new Float64Array(T * d));
    const counts = new Float64Array(T);
    for (const prompt of meanReference ?? dataset.pairs.map((p) => p.corrupted)) {
      const ref = referenceForward(refModel, { tokens: prompt });
      const n = Math.min(T, prompt.length);
      for (let s = 0; s < S; s++) for (let i = 0; i < n * d; i++) sums[s]![i]! += ref.senders[s]![i]!;
      for (let t = 0; t < n; t++) counts[t]! += 1;
    }
    return sums.map((row) => row.map((x, i) => x / counts[Math.floor(i / d)]!));
  }

  function resamplePartner(c: { seed: number }, pair: PromptPair): PromptPair {
    const partner = resamplePartners(dataset.pairs, c.seed).get(pair.index)!;
    // A derangement within a length: another prompt, of the same length.
    expect(partner.index).not.toBe(pair.index);
    expect(partner.clean.length).toBe(pair.clean.length);
    return partner;
  }

  async function check(c: AblationCase): Promise<void> {
    const metrics = (['prob', 'logit-diff', 'kl'] as const).map(getMetric);
    const exp = Experiment.plan(pm, dataset, { corruption: c.corruption, batchSize: 3, meanReference: c.meanReference });
    const settings = { direction: c.direction, metrics, granularity: getGranularity(c.granularity), window: c.window, configsPerPass: 5 };
    const session = await nodePatching.open(exp, settings);
    const ours = new Map<string, number>();
    for (const unit of nodePatching.units(exp, settings)) {
      const effects = await session.run(unit, SILENT);
      for (const [metric, rows] of effects) for (const e of rows) ours.set(`${metric}|${e.component}|${e.prompt}`, e.value);
    }

    // Per pair: the clean run, the patch source, and the unpatched base and "corrupted" runs.
    const ref = new Map<number, { clean: ReferenceResult; source: readonly Float64Array[]; baseInput: readonly number[]; base: ReferenceResult; corrupted: ReferenceResult }>();
    for (const pair of dataset.pairs) {
      const clean = referenceForward(refModel, { tokens: pair.clean });
      const source = referenceSource(c.corruption, pair, c.meanReference);
      // Resampling's corrupted run is the partner's forward; zero and mean's the fully ablated clean run.
      const corrupted =
        c.corruption.kind === 'resample'
          ? referenceForward(refModel, { tokens: resamplePartner(c.corruption, pair).clean })
          : referenceForward(refModel, { tokens: pair.clean }, { mask: onesMask, source });
      const denoising = c.direction === 'denoising';
      const baseInput = denoising ? resamplePartner(c.corruption as { seed: number }, pair).clean : pair.clean;
      ref.set(pair.index, { clean, source: denoising ? clean.senders : source, baseInput, base: denoising ? corrupted : clean, corrupted });
    }
    let ldGap = 0;
    for (const pair of dataset.pairs) {
      const r = ref.get(pair.index)!;
      ldGap += scores(r.clean.logits, r.clean.logits, pair, V)['logit-diff']! - scores(r.corrupted.logits, r.clean.logits, pair, V)['logit-diff']!;
    }
    ldGap /= dataset.pairs.length;
    expect(Math.abs(ldGap - session.baselines.metrics['logit-diff']!.normaliser)).toBeLessThan(TOL);

    let checked = 0;
    for (const key of ours.keys()) {
      const [metric, name, pairIndex] = key.split('|') as [string, string, string];
      if (metric !== 'prob') continue;
      const pair = dataset.pairs[Number(pairIndex)]!;
      const r = ref.get(pair.index)!;
      const pt = referenceForward(refModel, { tokens: r.baseInput }, { mask: referenceMask(pm.graph, name), source: r.source });
      const sPt = scores(pt.logits, r.clean.logits, pair, V);
      const sBase = scores(r.base.logits, r.clean.logits, pair, V);
      for (const m of ['prob', 'logit-diff', 'kl']) {
        const want = (sPt[m]! - sBase[m]!) / (m === 'logit-diff' ? ldGap : 1);
        const got = ours.get(`${m}|${name}|${pairIndex}`)!;
        expect(Math.abs(got - want), `${m} ${name} pair ${pairIndex}`).toBeLessThan(TOL * Math.max(1, Math.abs(want)));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  }

  const cases: AblationCase[] = [
    { corruption: { kind: 'zero' }, direction: 'noising', granularity: 'heads', window: 1 },
    { corruption: { kind: 'zero' }, direction: 'noising', granularity: 'resid', window: 1 },
    { corruption: { kind: 'mean' }, direction: 'noising', granularity: 'heads-pos', window: 1 },
    { corruption: { kind: 'mean' }, direction: 'noising', granularity: 'mlp-layer', window: 2 },
    // Reference prompts of other lengths (the longest covers every position; shorter ones count where they reach).
    {
      corruption: { kind: 'mean', reference: 'given' },
      direction: 'noising',
      granularity: 'heads',
      window: 1,
      meanReference: [randomTokens(12, 64, 1), randomTokens(4, 64, 2), randomTokens(9, 64, 3)],
    },
    { corruption: { kind: 'resample', seed: 0 }, direction: 'noising', granularity: 'heads', window: 1 },
    { corruption: { kind: 'resample', seed: 5 }, direction: 'denoising', granularity: 'attn-layer', window: 1 },
  ];
  for (const c of cases) {
    it(`${c.corruption.kind}${c.meanReference ? ' (given prompts)' : ''} ${c.direction} ${c.granularity} (window ${c.window}): every effect matches`, async () => check(c));
  }

  // Edge masks that patch most edges (ACDC's late configurations): the runtime may take the patch
  // term from the kept side, through the source's residual stream, which an ablation source builds.
  for (const corruption of [{ kind: 'zero' }, { kind: 'mean' }] as AblationCorruption[]) {
    it(`${corruption.kind}: configurations patching all edges but a few match the reference`, async () => {
      const g = pm.graph;
      const exp = Experiment.plan(pm, dataset, { corruption, batchSize: 3 });
      // Every edge into `logits` kept: no sender is patched into all its receivers (node patching),
      // so every layer sees edge entries from most senders before it.
      const into = (receivers: string[]) => [...g.edges()].filter((e) => receivers.includes(g.receivers[e.receiver]!.name)).map((e) => g.edgeName(e));
      const keep = [into(['logits']), [...into(['logits', 'm2']), 'input->a1.h0<q>'], []].map((names) => new Set(names));
      const metric = getMetric('logit-diff');
      // One configuration per pass: the runtime picks the kept side per pass, over all its configurations.
      const ours = await Promise.all(keep.map((k) => exp.scoreRows(EdgeMasks.fromEdgeSets(g, [[...g.edges()].filter((e) => !k.has(g.edgeName(e)))]), { direction: 'noising', metric })));
      exp.rows.forEach((row, i) => {
        const p = row.pair;
        const source = referenceSource(corruption, p);
        keep.forEach((k, c) => {
          const mask = (s: number, r: number) => (g.hasEdge(s, r) && !k.has(g.edgeName({ sender: s, receiver: r })) ? 1 : 0);
          const ref = referenceForward(refModel, { tokens: p.clean }, { mask, source });
          const want = scores(ref.logits, ref.logits, p, V)['logit-diff']!;
          expect(Math.abs(ours[c]![i]! - want), `${corruption.kind} config ${c} row ${i}`).toBeLessThan(TOL * Math.max(1, Math.abs(want)));
        });
      });
    });
  }

  it('zero and mean ablation refuse denoising; resampling needs two prompts of each length', async () => {
    const exp = Experiment.plan(pm, dataset, { corruption: { kind: 'mean' }, batchSize: 3 });
    await expect(exp.scoreGroup(exp.groups[0]!, EdgeMasks.zeros(pm.graph, 1), { direction: 'denoising', metric: getMetric('prob') })).rejects.toThrow('mean ablation is defined for noising only');
    const lone = { ...dataset, pairs: dataset.pairs.slice(0, 1) };
    expect(() => Experiment.plan(pm, lone, { corruption: { kind: 'resample', seed: 0 } })).toThrow(/resample: pair 0 is the only prompt of \d+ tokens/);
    expect(() => Experiment.plan(pm, dataset, { corruption: { kind: 'mean' }, meanReference: [[1, 2]] })).toThrow(
      /mean ablation: the longest reference prompt has 2 tokens, the dataset's prompts up to \d+/,
    );
  });
});
