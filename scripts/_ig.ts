import type { StrCorruption } from '../src/core/vocabulary.js';
import { Experiment } from '../src/experiment/experiment.js';
import { getMetric } from '../src/experiment/metrics.js';
import { GradientModel, edgeAttribution } from '../src/gradients/edge-attribution.js';
import { PatchableModel } from '../src/runtime/patchable-model.js';
import { initModel } from '../src/synthetic/init.js';
import { benchDataset } from './bench-support.js';
const dataset = benchDataset({ pairs: 50, length: 16, keyPositions: [5] });
const pm = new PatchableModel(initModel('gpt2-small', 0));
const exp = await Experiment.prepare(pm, dataset, { corruption: dataset.corruption as StrCorruption, batchSize: 50 });
for (let i = 0; i < Number(process.env.NPLAIN ?? 6); i++) await pm.plainForward({ tokens: dataset.pairs.map((p) => p.clean) });
const tokens = Number(process.argv[2] ?? 4096);
const steps = Number(process.argv[3] ?? 5);
const gm = new GradientModel(pm.config, pm.weights, { maxPointTokens: tokens });
const graph = pm.graph;
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await edgeAttribution(exp, gm, { scheme: steps === 1 ? 'eap' : 'eap-ig-inputs', steps, metric: getMetric('logit-diff'), direction: 'noising' }, graph.nSenders, graph.fanIn);
  const c = process.cpuUsage(c0);
  console.log(`tokens ${tokens} steps ${steps}: wall ${(performance.now() - t0).toFixed(0)} user ${(c.user / 1000).toFixed(0)} sys ${(c.system / 1000).toFixed(0)}`);
}
