// Runtime measurements for issue 9 (cost in proportion to what a patch changes), made to give
// stable ratios on a busy machine: every round runs each measurement once, back to back, and the
// ratios are medians over rounds of (measurement / plain forward of the same round).
//
// Usage: npx tsx scripts/bench-runtime-issue9.ts [--reps N] [--only run,mask0,dense,pruned,k8] [--threads N]
//        [--preset gpt2-small] [--batch 50] [--memory]
// --memory: build every session, then report resident memory after a plain and a patched run
// (use with /usr/bin/time -v for the peak).
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { EdgeMasks } from '../src/runtime/masks.js';
import { buildPlainForward } from '../src/runtime/layer-graphs.js';
import { gatherIndices, inputSender } from '../src/runtime/inputs.js';
import { InstrumentedPatchableModel } from '../src/runtime/testing.js';
import { initModel } from '../src/synthetic/init.js';
import { machine } from './bench-support.js';

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    only: { type: 'string', default: 'plain-inline,plain,run,mask0,dense,pruned,k8' },
    preset: { type: 'string', default: 'gpt2-small' },
    batch: { type: 'string', default: '50' },
    memory: { type: 'boolean', default: false },
    threads: { type: 'string' },
  },
});
const reps = Number(args.reps);
const only = new Set(args.only.split(','));
const B = Number(args.batch);
const T = 16;
const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GB`;
const rss = (what: string) => console.log(`rss ${what}: ${gb(process.memoryUsage().rss)}`);

const model = initModel(args.preset as Parameters<typeof initModel>[0], 0);
rss('after init');
const threads = args.threads === undefined ? undefined : Number(args.threads);
const pm = new InstrumentedPatchableModel(model, { threads });
const g = pm.graph;
const V = model.config.vocabSize;
let seed = 1;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const clean = Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(rand() * V)));
const corrupt = clean.map((p) => p.map((t, i) => (i === 5 ? Math.floor(rand() * V) : t)));
const input = { tokens: corrupt };

if (args.memory) {
  await pm.warm();
  rss('after building every session');
  const base = (await pm.run(input)).cache;
  const source = (await pm.run({ tokens: clean })).cache;
  rss('after two cached runs');
  const m = EdgeMasks.zeros(g, 1);
  m.set(0, g.headSender(0, 0), g.mlpReceiver(g.nLayers - 1), 1);
  await pm.runPatched(input, { source, base, masks: m });
  rss('after a patched run');
  await pm.plainForward(input);
  rss('after a plain forward');
  await pm.release();
  process.exit(0);
}

// The baseline as it was before weights became inputs: one graph, weights inline (pre-packed by ORT).
const inline = await ort.InferenceSession.create(buildPlainForward(model.config, model.weights, { inlineWeights: true }).bytes, {
  intraOpNumThreads: threads ?? (await import('node:os')).availableParallelism(),
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const inlineForward = () => {
  const gather = gatherIndices('last', B, T);
  return inline.run({
    input: new ort.Tensor('float32', inputSender(model.config, model.weights, input), [B, T, model.config.dModel]),
    gather: new ort.Tensor('int64', gather, [gather.length]),
  });
};

await pm.warm();
const base = (await pm.run(input)).cache;
const source = (await pm.run({ tokens: clean })).cache;
const nodeSets = Array.from({ length: 8 }, (_, k) => [...g.edges()].filter((e) => e.sender === g.headSender(0, k)));
const k8 = EdgeMasks.fromEdgeSets(g, nodeSets);
const dense = EdgeMasks.zeros(g, 1);
for (const e of g.edges()) if (rand() < 0.5) dense.set(0, e.sender, e.receiver, 1);
// A late ACDC state (noising: pruned edges patched): 97% of all edges patched, at random.
const pruned = EdgeMasks.zeros(g, 1);
for (const e of g.edges()) if (rand() < 0.97) pruned.set(0, e.sender, e.receiver, 1);

const all: [string, string, () => Promise<unknown>][] = [
  ['plain-inline', 'plain forward, weights inline (one ONNX graph, the old baseline)', inlineForward],
  ['plain', 'plain forward, weights fed (PatchableModel.plainForward)', () => pm.plainForward(input)],
  ['run', 'patchable forward, no patches (full sender cache)', () => pm.run(input)],
  ['mask0', 'mask 0, every layer per-receiver', () => pm.runPatchedAllPerReceiver(input, { source, base, masks: EdgeMasks.zeros(g, 1), fromLayer: 0 })],
  ['dense', 'K=1, half of all edges patched', () => pm.runPatched(input, { source, base, masks: dense })],
  ['pruned', 'K=1, 97% of all edges patched (a late ACDC state)', () => pm.runPatched(input, { source, base, masks: pruned })],
  ['k8', 'K=8 node patches (heads of layer 0) in one pass', () => pm.runPatched(input, { source, base, masks: k8 })],
  [
    'k8',
    'the same 8 node patches, one pass each',
    async () => {
      for (const edges of nodeSets) await pm.runPatched(input, { source, base, masks: EdgeMasks.fromEdgeSets(g, [edges]) });
    },
  ],
];
const chosen = all.filter(([key]) => only.has(key) || key.startsWith('plain'));
const times = chosen.map(() => [] as number[]);
// Process CPU time (user + system) besides wall time: on a machine shared with other work it moves
// far less than wall time, and with --threads 1 it is the work done.
const cpu = chosen.map(() => [] as number[]);
for (let round = -1; round < reps; round++) {
  for (const [i, [, , f]] of chosen.entries()) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await f();
    const c = process.cpuUsage(c0);
    if (round >= 0) {
      times[i]!.push(performance.now() - t0);
      cpu[i]!.push((c.user + c.system) / 1000);
    }
  }
  if (round >= 0) console.error(`round ${round + 1}/${reps}: wall ${times.map((t) => t.at(-1)!.toFixed(0)).join(', ')} ms; cpu ${cpu.map((t) => t.at(-1)!.toFixed(0)).join(', ')} ms`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ref = chosen.findIndex(([key]) => key === 'plain-inline');
console.log(`Machine: ${machine()}. ${args.preset} shape, ${B} prompts x ${T} tokens, logits at the last position, ${reps} rounds, ${threads ?? 'all'} threads.\n`);
console.log('| measurement | wall ms | x plain (wall) | cpu ms | x plain (cpu) |');
console.log('|---|---:|---:|---:|---:|');
for (const [i, [, name]] of chosen.entries()) {
  const ratio = (xs: number[][]) => median(xs[i]!.map((t, r) => t / xs[ref]![r]!)).toFixed(2);
  console.log(`| ${name} | ${median(times[i]!).toFixed(0)} | ${ratio(times)} | ${median(cpu[i]!).toFixed(0)} | ${ratio(cpu)} |`);
}
console.log('(x plain: median over rounds of the ratio to the inline plain forward of the same round)');
rss('at the end');
await pm.release();
