// The patching grid end to end against the slow reference path: every component's effect on every
// pair, computed by the engine (masks, batching, prefix reuse) and independently by one float64
// reference forward per patch with a hand-written mask and hand-written metrics, within 1e-4.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedModel } from '../../src/model/types.js';
import { getGranularity, type PositionChoice } from '../../src/experiment/components.js';
import type { Corruption, Direction, GranularityName } from '../../src/core/vocabulary.js';
import { corruptedInput } from '../../src/experiment/corruption.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { nodePatching } from '../../src/methods/node-patching.js';
import { SILENT } from '../../src/methods/method.js';
import { getMetric } from '../../src/experiment/metrics.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { buildDataset } from '../../src/tasks/registry.js';
import type { Dataset } from '../../src/tasks/types.js';
import { referenceForward } from '../reference/patched-forward.js';
import { referenceMask, scores } from './reference-components.js';
import { randomModel } from '../reference/random-model.js';
import { loadModel } from '../../src/checkpoints/load.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { describeShared, stories260kPath } from '../support/shared.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TOL = 1e-4;

interface GridCase {
  readonly granularity: GranularityName;
  readonly window: number;
  readonly corruption: Corruption;
  readonly direction: Direction;
  readonly positions?: PositionChoice;
}

/** A component name at a named position (`m1@last-key`, `a0.h2@END`) with the pair's own position, found independently. */
function atPairPosition(name: string, pair: Dataset['pairs'][number]): string {
  return name.replace(/@last-key$/, `@${Math.max(...pair.keyPositions)}`).replace(/@END$/, `@${pair.clean.length - 1}`);
}

/** Runs the engine on a dataset and checks every effect against one reference forward per patch. */
async function checkGrid(pm: PatchableModel, dataset: Dataset, c: GridCase): Promise<void> {
  const { config, weights } = pm.model;
  const graph = pm.graph;
  const metrics = (['prob', 'logit-diff', 'kl'] as const).map(getMetric);
  const exp = Experiment.plan(pm, dataset, { corruption: c.corruption, batchSize: 3 });
  const settings = {
    direction: c.direction,
    metrics,
    granularity: getGranularity(c.granularity),
    window: c.window,
    configsPerPass: 5,
    ...(c.positions === undefined ? {} : { positions: c.positions }),
  };
  expect(nodePatching.check(exp, settings)).toEqual([]);
  const session = await nodePatching.open(exp, settings);
  const baselines = session.baselines;
  const ours = new Map<string, number>();
  for (const unit of nodePatching.units(exp, settings)) {
    const effects = await session.run(unit, SILENT);
    for (const [metric, rows] of effects) for (const e of rows) ours.set(`${metric}|${e.component}|${e.prompt}`, e.value);
  }

  // Reference: one float64 forward per (pair, noise sample, component).
  const samples = c.corruption.kind === 'gn' ? c.corruption.noise.samples : 1;
  const refModel = { config, weights };
  const clean = new Map<number, ReturnType<typeof referenceForward>>();
  const corrupted = new Map<string, ReturnType<typeof referenceForward>>();
  for (const pair of dataset.pairs) {
    clean.set(pair.index, referenceForward(refModel, { tokens: pair.clean }));
    for (let s = 0; s < samples; s++) {
      const inp = corruptedInput(config, weights, c.corruption, [{ pair, sample: s }], baselines.sigma ?? 0);
      const ref = 'tokens' in inp ? referenceForward(refModel, { tokens: inp.tokens[0]! }) : referenceForward(refModel, { embeddings: inp.embeddings });
      corrupted.set(`${pair.index}/${s}`, ref);
    }
  }
  const V = config.vocabSize;
  // Normaliser of logit difference: dataset mean of clean - corrupted.
  let ldGap = 0;
  let n = 0;
  for (const pair of dataset.pairs) {
    for (let s = 0; s < samples; s++) {
      const cl = clean.get(pair.index)!.logits;
      const co = corrupted.get(`${pair.index}/${s}`)!.logits;
      ldGap += scores(cl, cl, pair, V)['logit-diff']! - scores(co, cl, pair, V)['logit-diff']!;
      n++;
    }
  }
  ldGap /= n;
  expect(Math.abs(ldGap - baselines.metrics['logit-diff']!.normaliser)).toBeLessThan(TOL);

  let checked = 0;
  for (const key of ours.keys()) {
    const [metric, name, pairIndex] = key.split('|') as [string, string, string];
    if (metric !== 'prob') continue;
    const pair = dataset.pairs[Number(pairIndex)]!;
    const mask = referenceMask(graph, atPairPosition(name, pair));
    const acc: Record<string, number> = { prob: 0, 'logit-diff': 0, kl: 0 };
    for (let s = 0; s < samples; s++) {
      const cl = clean.get(pair.index)!;
      const co = corrupted.get(`${pair.index}/${s}`)!;
      const [base, src] = c.direction === 'denoising' ? [co, cl] : [cl, co];
      const baseInput =
        c.direction === 'denoising'
          ? (() => {
              const inp = corruptedInput(config, weights, c.corruption, [{ pair, sample: s }], baselines.sigma ?? 0);
              return 'tokens' in inp ? { tokens: inp.tokens[0]! } : { embeddings: inp.embeddings };
            })()
          : { tokens: pair.clean };
      const pt = referenceForward(refModel, baseInput, { mask, source: src.senders });
      const sPt = scores(pt.logits, cl.logits, pair, V);
      const sBase = scores(base.logits, cl.logits, pair, V);
      for (const m of Object.keys(acc)) acc[m]! += (sPt[m]! - sBase[m]!) / (m === 'logit-diff' ? ldGap : 1) / samples;
    }
    for (const m of Object.keys(acc)) {
      const got = ours.get(`${m}|${name}|${pairIndex}`)!;
      expect(Math.abs(got - acc[m]!), `${m} ${name} pair ${pairIndex}`).toBeLessThan(TOL * Math.max(1, Math.abs(acc[m]!)));
      checked++;
    }
  }
  expect(checked).toBeGreaterThan(20);
}

describe('patching grid vs the float64 reference (random GPT-2)', () => {
  const { config, weights } = randomModel('gpt2', { dModel: 32, nLayers: 3, nHeads: 4, vocabSize: 64, maxPositions: 32 }, 21);
  const loaded: LoadedModel = { config, weights, source: { path: 'random', format: 'hf-safetensors' } };
  const pm = new PatchableModel(loaded, { threads: 1 });
  afterAll(async () => pm.release());

  const cases: GridCase[] = [
    { granularity: 'heads', window: 1, corruption: { kind: 'str', variant: 'key-token' }, direction: 'denoising' },
    { granularity: 'heads', window: 1, corruption: { kind: 'gn', noise: { multiplier: 3, samples: 2, seed: 5, sigmaFrom: 'key-tokens' } }, direction: 'noising' },
    { granularity: 'heads-pos', window: 1, corruption: { kind: 'str', variant: 'key-token' }, direction: 'noising' },
    { granularity: 'head-qkv', window: 1, corruption: { kind: 'str', variant: 'key-token' }, direction: 'denoising' },
    { granularity: 'resid', window: 1, corruption: { kind: 'str', variant: 'key-token' }, direction: 'denoising' },
    { granularity: 'mlp', window: 2, corruption: { kind: 'gn', noise: { multiplier: 3, samples: 1, seed: 2, sigmaFrom: 'vocabulary' } }, direction: 'denoising' },
    { granularity: 'attn', window: 2, corruption: { kind: 'str', variant: 'key-token' }, direction: 'noising' },
    { granularity: 'attn-layer', window: 1, corruption: { kind: 'str', variant: 'key-token' }, direction: 'denoising' },
    { granularity: 'attn-layer', window: 2, corruption: { kind: 'str', variant: 'key-token' }, direction: 'noising' },
    { granularity: 'mlp-layer', window: 1, corruption: { kind: 'str', variant: 'key-token' }, direction: 'noising' },
    { granularity: 'mlp-layer', window: 2, corruption: { kind: 'gn', noise: { multiplier: 3, samples: 2, seed: 4, sigmaFrom: 'key-tokens' } }, direction: 'denoising' },
  ];

  for (const c of cases) {
    it(`${c.granularity} (window ${c.window}), ${c.corruption.kind}, ${c.direction}: every effect matches`, async () => {
      const dataset: Dataset = buildDataset(
        { vocabSize: config.vocabSize, dataDir: 'data' },
        { task: 'induction', options: { length: 5, cut: 'random' }, corruption: c.corruption.kind === 'gn' ? { kind: 'gn' } : undefined, seed: 3, count: 5 },
      );
      await checkGrid(pm, dataset, c);
    });
  }

  // Multi-position metric: induction read at every position of the second copy (pairs of
  // different cut points have different numbers of targets), each metric the mean over them.
  for (const c of [cases[0]!, cases[1]!, cases[2]!]) {
    it(`multi-position targets, ${c.granularity}, ${c.corruption.kind}, ${c.direction}: every effect matches`, async () => {
      const dataset: Dataset = buildDataset(
        { vocabSize: config.vocabSize, dataDir: 'data' },
        { task: 'induction', options: { length: 5, cut: 'random', targets: 'second-copy' }, corruption: c.corruption.kind === 'gn' ? { kind: 'gn' } : undefined, seed: 3, count: 5 },
      );
      expect(new Set(dataset.pairs.map((p) => p.targets.length)).size).toBeGreaterThan(1);
      expect(dataset.pairs.every((p) => p.targets.length >= 2)).toBe(true);
      await checkGrid(pm, dataset, c);
    });
  }

  // One position per prompt (Zhang & Nanda's last subject token): rows of one group have their last
  // key token at different positions, and a second length makes a second group.
  describe('one position per prompt', () => {
    let dir: string;
    let dataset: Dataset;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'grid-positions-'));
      const lines = [
        { clean_ids: [3, 9, 4, 5, 6, 7], corrupted_ids: [3, 11, 4, 5, 6, 7], answer_id: 8, wrong_id: 12, key_tokens: [1] },
        { clean_ids: [3, 4, 9, 10, 6, 7], corrupted_ids: [3, 4, 11, 13, 6, 7], answer_id: 8, wrong_id: 12, key_tokens: [2, 3] },
        { clean_ids: [2, 9, 10, 5, 6, 7], corrupted_ids: [2, 11, 13, 5, 6, 7], answer_id: 14, wrong_id: 12, key_tokens: [1, 2] },
        { clean_ids: [3, 4, 5, 6, 9, 7], corrupted_ids: [3, 4, 5, 6, 11, 7], answer_id: 8, wrong_id: 15, key_tokens: [4] },
        { clean_ids: [3, 4, 9, 6, 7], corrupted_ids: [3, 4, 11, 6, 7], answer_id: 8, wrong_id: 12, key_tokens: [2] },
      ];
      writeFileSync(join(dir, 'pairs.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
      dataset = buildDataset({ vocabSize: config.vocabSize, dataDir: 'data', baseDir: dir }, { task: 'paired-jsonl', options: { file: 'pairs.jsonl' }, seed: 0, count: lines.length });
    });
    afterAll(() => rmSync(dir, { recursive: true }));

    const str = { kind: 'str', variant: 'given' } as const;
    const positionCases: GridCase[] = [
      { granularity: 'mlp', window: 2, corruption: str, direction: 'denoising', positions: 'last-key' },
      { granularity: 'attn', window: 1, corruption: str, direction: 'noising', positions: 'last-key' },
      { granularity: 'resid', window: 1, corruption: str, direction: 'denoising', positions: 'last-key' },
      { granularity: 'heads-pos', window: 1, corruption: str, direction: 'denoising', positions: { role: 'END' } },
    ];
    for (const c of positionCases) {
      const name = typeof c.positions === 'object' ? c.positions.role : c.positions;
      it(`${c.granularity} (window ${c.window}) at ${name}, ${c.direction}: every effect matches`, async () => {
        // Batches of 3: the first group of length 6 holds last key tokens at 1, 3 and 2.
        expect(new Set(dataset.pairs.slice(0, 3).map((p) => Math.max(...p.keyPositions))).size).toBe(3);
        await checkGrid(pm, dataset, c);
      });
    }

    it('refuses a granularity without positions and a pair without the role, naming them', async () => {
      const exp = Experiment.plan(pm, dataset, { batchSize: 3 });
      const metrics = [getMetric('logit-diff')];
      expect(nodePatching.check(exp, { direction: 'denoising', metrics, granularity: getGranularity('mlp-layer'), window: 1, positions: 'last-key' })).toEqual([
        'positions: last-key needs a per-position granularity (heads-pos, attn, mlp or resid), got mlp-layer',
      ]);
      expect(nodePatching.check(exp, { direction: 'denoising', metrics, granularity: getGranularity('mlp'), window: 1, positions: { role: 'S2' } })).toEqual([
        'positions: pair 0 has no role S2 (its roles: END)',
      ]);
    });
  });
});

describeShared('patching grid vs the float64 reference (stories260K)', () => {
  let pm: PatchableModel;
  let dataset: Dataset;
  beforeAll(async () => {
    pm = new PatchableModel(await loadModel(stories260kPath));
    const tokenizer = (await loadTokenizer(stories260kPath))!;
    dataset = buildDataset({ tokenizer, vocabSize: pm.config.vocabSize, dataDir: 'data' }, { task: 'induction', options: { length: 4, cut: 'last' }, seed: 2, count: 3 });
  });
  afterAll(async () => pm.release());

  for (const c of [
    { granularity: 'heads', window: 1, corruption: { kind: 'str', variant: 'key-token' }, direction: 'denoising' },
    { granularity: 'resid', window: 1, corruption: { kind: 'str', variant: 'key-token' }, direction: 'noising' },
  ] as GridCase[]) {
    it(`${c.granularity}, ${c.direction}: every effect matches`, async () => checkGrid(pm, dataset, c));
  }
});
