// The all-heads activation-patching sweep (144 heads, gpt2-small shape, 50 prompts x 16 tokens,
// logit difference, denoising, STR) measured in plain forwards of the same run: the sweep's wall
// and process CPU time divided by the median plain forward's (one ONNX graph, weights inline, the
// baseline of bench-runtime-issue9.ts), timed after the sweep. Peak memory of the sweep: the
// process's VmHWM, read before the baseline's session (with its own weight copy) is made.
// Usage: npx tsx scripts/bench-runtime-sweep.ts [--threads N] [--granularity heads]
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { getGranularity } from '../src/experiment/components.js';
import { getMetric } from '../src/experiment/metrics.js';
import { Experiment } from '../src/experiment/experiment.js';
import { SILENT } from '../src/methods/method.js';
import { nodePatching } from '../src/methods/node-patching.js';
import { GRANULARITY_NAMES, type GranularityName, type StrCorruption } from '../src/core/vocabulary.js';
import { gatherIndices, inputSender } from '../src/runtime/inputs.js';
import { buildPlainForward } from '../src/runtime/layer-graphs.js';
import { PatchableModel } from '../src/runtime/patchable-model.js';
import { initModel } from '../src/synthetic/init.js';
import { benchDataset, machine } from './bench-support.js';

const { values: args } = parseArgs({ options: { threads: { type: 'string' }, granularity: { type: 'string', default: 'heads' } } });
const threads = args.threads === undefined ? undefined : Number(args.threads);
const B = 50;
const T = 16;
const dataset = benchDataset({ pairs: B, length: T, keyPositions: [5] });
const STR = dataset.corruption as StrCorruption;
const pairs = dataset.pairs;
if (!(GRANULARITY_NAMES as readonly string[]).includes(args.granularity)) throw new Error(`--granularity: no granularity ${args.granularity} (${GRANULARITY_NAMES.join(', ')})`);
const granularity = args.granularity as GranularityName;
const model = initModel('gpt2-small', 0);
const pm = new PatchableModel(model, { threads });

const measure = async (f: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> => {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await f();
  const c = process.cpuUsage(c0);
  return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// The sweep alone is timed: the session's clean and corrupted runs and baselines are made first.
const exp = Experiment.plan(pm, dataset, { corruption: STR, batchSize: B });
const settings = { direction: 'denoising' as const, metrics: [getMetric('logit-diff')], granularity: getGranularity(granularity), window: 1 };
const session = await nodePatching.open(exp, settings);
const [unit] = nodePatching.units(exp, settings);
const sweep = await measure(() => session.run(unit!, SILENT));
const peakKb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
await pm.release();

const inline = await ort.InferenceSession.create(buildPlainForward(model.config, model.weights, { inlineWeights: true }).bytes, {
  intraOpNumThreads: threads ?? availableParallelism(),
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const gather = gatherIndices('last', B, T);
const plain = () =>
  inline.run({
    input: new ort.Tensor('float32', inputSender(model.config, model.weights, { tokens: pairs.map((p) => p.corrupted) }), [B, T, model.config.dModel]),
    gather: new ort.Tensor('int64', gather, [gather.length]),
  });
await plain();
const runs: { wall: number; cpu: number }[] = [];
for (let i = 0; i < 5; i++) runs.push(await measure(plain));
const plainWall = median(runs.map((m) => m.wall));
const plainCpu = median(runs.map((m) => m.cpu));
console.log(`Machine: ${machine()}. ${args.granularity} sweep, gpt2-small shape, ${B} prompts x ${T} tokens, ${threads ?? 'all'} threads.`);
console.log(`plain forward (inline weights): median wall ${plainWall.toFixed(0)} ms, cpu ${plainCpu.toFixed(0)} ms (5 runs after the sweep)`);
console.log(
  `sweep: wall ${(sweep.wall / 1000).toFixed(1)} s = ${(sweep.wall / plainWall).toFixed(0)} plain forwards; cpu ${(sweep.cpu / 1000).toFixed(1)} s = ${(sweep.cpu / plainCpu).toFixed(0)} plain forwards`,
);
console.log(`peak resident memory up to the end of the sweep (VmHWM): ${(peakKb / 2 ** 20).toFixed(2)} GB`);
