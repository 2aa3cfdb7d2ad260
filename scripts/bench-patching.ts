// Benchmark of node-level activation patching sweeps on the gpt2-small shape (random weights),
// 50 prompts x 16 tokens: the all-heads sweep (144 heads) and the residual-stream sweep
// (13 layers x 16 positions), through the engine (many patches per pass, prefix reuse) against
// the naive way (one full forward per patch, timed on a sample of patches and extrapolated).
// Usage: npm run bench:patching [-- --naive-sample N]
import { initModel } from '../src/synthetic/init.js';
import { getGranularity } from '../src/experiment/components.js';
import { parseArgs } from 'node:util';
import { Experiment } from '../src/experiment/experiment.js';
import { SILENT } from '../src/methods/method.js';
import { nodePatching } from '../src/methods/node-patching.js';
import { getMetric } from '../src/experiment/metrics.js';
import { EdgeMasks } from '../src/runtime/masks.js';
import { PatchableModel } from '../src/runtime/patchable-model.js';
import { GRANULARITY_NAMES, type GranularityName, type StrCorruption } from '../src/core/vocabulary.js';
import { benchDataset, machine } from './bench-support.js';

const { values: args } = parseArgs({ options: { 'naive-sample': { type: 'string', default: '8' }, only: { type: 'string' } } });
const naiveSample = Number(args['naive-sample']);
const B = 50;
const T = 16;

const dataset = benchDataset({ pairs: B, length: T, keyPositions: [5] });
const STR = dataset.corruption as StrCorruption;
const pairs = dataset.pairs;

const pm = new PatchableModel(initModel('gpt2-small', 0));
await pm.warm(['all-positions']);
const metric = getMetric('logit-diff');

async function sweep(granularity: GranularityName): Promise<{ seconds: number; patches: number }> {
  const exp = Experiment.plan(pm, dataset, { corruption: STR, batchSize: B });
  const settings = { direction: 'denoising' as const, metrics: [metric], granularity: getGranularity(granularity), window: 1 };
  const session = await nodePatching.open(exp, settings);
  const [unit] = nodePatching.units(exp, settings);
  const t0 = performance.now();
  const res = await session.run(unit!, SILENT);
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, patches: res.get('logit-diff')!.length / B };
}

/** One full forward per patch: K = 1, recomputed from layer 0, as a hook-based tool does it. */
async function naivePerPatch(granularity: GranularityName): Promise<number> {
  const g = getGranularity(granularity).components({ graph: pm.graph, seqLen: T, window: 1 });
  const clean = await pm.run({ tokens: pairs.map((p) => p.clean) });
  const corrupted = await pm.run({ tokens: pairs.map((p) => p.corrupted) });
  const step = Math.max(1, Math.floor(g.length / naiveSample));
  const sample = g.filter((_, i) => i % step === 0).slice(0, naiveSample);
  const t0 = performance.now();
  for (const c of sample) {
    const m = EdgeMasks.zeros(pm.graph, 1, getGranularity(granularity).perPosition ? T : undefined);
    c.apply(m, 0);
    await pm.runPatched(
      { tokens: pairs.map((p) => p.corrupted) },
      { source: clean.cache, base: corrupted.cache, masks: m, fromLayer: 0, positions: pairs.map((p) => p.targets.map((t) => t.position)) },
    );
  }
  return (performance.now() - t0) / 1000 / sample.length;
}

console.log(`Machine: ${machine()}. Model: gpt2-small shape (random weights), ${B} prompts x ${T} tokens, metric logit difference, denoising, STR.\n`);
console.log('| sweep | patches | patchwise (s) | naive, one forward per patch (s, extrapolated) | speed-up |');
console.log('|---|---:|---:|---:|---:|');
const only = args.only;
if (only !== undefined && !(GRANULARITY_NAMES as readonly string[]).includes(only)) throw new Error(`--only: no granularity ${only} (${GRANULARITY_NAMES.join(', ')})`);
const granularities: GranularityName[] = only === undefined ? ['heads', 'resid'] : [only as GranularityName];
for (const granularity of granularities) {
  const ours = await sweep(granularity);
  const perPatch = await naivePerPatch(granularity);
  const naive = perPatch * ours.patches;
  console.log(`| ${granularity} | ${ours.patches} | ${ours.seconds.toFixed(1)} | ${naive.toFixed(1)} (${perPatch.toFixed(2)} s x ${ours.patches}) | ${(naive / ours.seconds).toFixed(1)}x |`);
}
await pm.release();
