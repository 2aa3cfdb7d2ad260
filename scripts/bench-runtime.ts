// Benchmark of the patchable runtime on the gpt2-small shape (random weights: same compute as the
// real model), batch of 50 prompts x 16 tokens. Usage: npm run bench:runtime [-- --reps N]
import { parseArgs } from 'node:util';
import { initModel } from '../src/synthetic/init.js';
import { EdgeMasks } from '../src/runtime/masks.js';
import { InstrumentedPatchableModel } from '../src/runtime/testing.js';
import { machine, time } from './bench-support.js';
import { Random } from '../src/core/random.js';

const { values: args } = parseArgs({ options: { reps: { type: 'string', default: '5' } } });
const reps = Number(args.reps) || 5;
const B = 50;
const T = 16;

const model = initModel('gpt2-small', 0);
const pm = new InstrumentedPatchableModel(model);
const g = pm.graph;
const random = new Random(1);
const rand = (): number => random.uniform();
const clean = Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(rand() * 50257)));
const corrupt = clean.map((p) => p.map((t, i) => (i === 5 ? Math.floor(rand() * 50257) : t)));
const input = { tokens: corrupt };

await pm.warm();
const base = (await pm.run(input)).cache;
const source = (await pm.run({ tokens: clean })).cache;

// K = 8 node patches (every edge out of one head) in layer 0, as a sweep over heads would make them.
const nodeSets = Array.from({ length: 8 }, (_, k) => [...g.edges()].filter((e) => e.sender === g.headSender(0, k)));
const k8 = EdgeMasks.fromEdgeSets(g, nodeSets);
// Dense worst case: half of all edges patched, at random.
const dense = EdgeMasks.zeros(g, 1);
for (const e of g.edges()) if (rand() < 0.5) dense.set(0, e.sender, e.receiver, 1);

const plain = await time('plain forward (one ONNX graph)', () => pm.plainForward(input), reps);
const run = await time('patchable forward, no patches (per-layer graphs, full sender cache)', () => pm.run(input), reps);
const zeroForced = await time(
  'patched forward, mask 0, every layer in per-receiver form',
  () => pm.runPatchedAllPerReceiver(input, { source, base, masks: EdgeMasks.zeros(g, 1), fromLayer: 0 }),
  reps,
);
const denseT = await time('patched forward, K=1, half of all 32,491 edges patched', () => pm.runPatched(input, { source, base, masks: dense }), reps);
const batched = await time('patched forward, K=8 node patches in one run', () => pm.runPatched(input, { source, base, masks: k8 }), reps);
const oneByOne = await time(
  'patched forward, the same 8 node patches one run each',
  async () => {
    for (const edges of nodeSets) await pm.runPatched(input, { source, base, masks: EdgeMasks.fromEdgeSets(g, [edges]) });
  },
  Math.max(1, Math.floor(reps / 2)),
);

const rows = [plain, run, zeroForced, denseT, batched, oneByOne];
console.log(`Machine: ${machine()}. Model: gpt2-small shape (124M parameters, random weights), ${B} prompts x ${T} tokens, logits at the last position.\n`);
console.log('| measurement | median ms | x plain forward |');
console.log('|---|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${r.medianMs.toFixed(0)} | ${(r.medianMs / plain.medianMs).toFixed(2)} |`);
console.log(`\nPatchable forward / plain forward: ${(run.medianMs / plain.medianMs).toFixed(2)}x (target <= 1.5x).`);
console.log(`K=8 in one run vs 8 runs: ${(oneByOne.medianMs / batched.medianMs).toFixed(2)}x faster.`);
await pm.release();
