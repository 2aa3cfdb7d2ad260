// Benchmark of ACDC (edge level, KL, noising) on the gpt2-small shape (random weights: the real
// model's compute), 50 prompts x 16 tokens, against the naive way (one full forward per edge:
// runPatched from layer 0, one configuration per pass, plus the same scoring; both reuse the
// cached clean and corrupted runs). A whole run (32,491 edges) takes days on a small CPU, so:
// 1. a real run over the first --decisions edges ACDC visits (logits' 157, then m11's): wall time;
// 2. per-edge cost at the logits and at layers 11 and --layers, each from the state ACDC is in
//    there (every edge into later layers decided: the real run's decisions, or for sampled layers
//    ~97% pruned as in sparse circuits): --sample consecutive real decisions from there (the mean
//    cost per decision, less the start-up evaluation), ACDC and naive alternated --reps times,
//    medians taken, so that drifting machine load hits both alike;
// 3. the total for all edges from the per-layer costs (linear between measured layers).
// Every cost is also given in plain forwards (PatchableModel.plainForward of the same batch, timed in
// the same process): a sampled layer's in the median of 6 timed around its own decisions (3 before,
// 3 after), so that the machine's load drifting between layers does not skew its ratio; the real
// run and the totals in the median of 5 timed before the ACDC runs.
// Usage: npx tsx scripts/bench-acdc.ts [--decisions 313] [--layers 0,4,8] [--sample 2] [--reps 3] [--tau 1e-3] [--batch K]
//        [--threads N (intra-op threads; default every core)]
import { parseArgs } from 'node:util';
import { acdcTuned } from '../src/methods/acdc.js';
import { Experiment } from '../src/experiment/experiment.js';
import { initModel } from '../src/synthetic/init.js';
import { getMetric } from '../src/experiment/metrics.js';
import { EdgeMasks } from '../src/runtime/masks.js';
import { PatchableModel } from '../src/runtime/patchable-model.js';
import { benchDataset, machine } from './bench-support.js';
import { Random } from '../src/core/random.js';

const { values: args } = parseArgs({
  options: {
    decisions: { type: 'string', default: '313' },
    layers: { type: 'string', default: '0,4,8' },
    reps: { type: 'string', default: '3' },
    sample: { type: 'string', default: '2' },
    threads: { type: 'string' },
    tau: { type: 'string', default: '1e-3' },
    batch: { type: 'string' },
  },
});
const decisions = Number(args.decisions);
const sampleLayers = args.layers
  .split(',')
  .filter((x) => x !== '')
  .map(Number);
const reps = Number(args.reps);
const sample = Number(args.sample);
const tau = Number(args.tau);
const batch = args.batch === undefined ? undefined : Number(args.batch);
const B = 50;
const T = 16;

const random = new Random(7);
const rand = (): number => random.uniform();
// Four key positions replaced (STR-like); the metric reads the last position.
const dataset = benchDataset({ pairs: B, length: T, keyPositions: [1, 5, 9, 13], random });

const threads = args.threads === undefined ? undefined : Number(args.threads);
const pm = new PatchableModel(initModel('gpt2-small', 0), { threads });
const g = pm.graph;
const { nLayers } = pm.config;
const R = g.nReceivers;
await pm.warm();
let t0 = performance.now();
const runs = await Experiment.prepare(pm, dataset);
const groupRuns = await runs.runsOf(runs.groups[0]!);
const prepareSeconds = (performance.now() - t0) / 1000;
const kl = getMetric('kl');
// The unit of every cost: one plain forward of the same batch (one ONNX graph, weights fed).
await pm.plainForward(runs.groups[0]!.cleanInput);
const plainTimes: number[] = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  await pm.plainForward(runs.groups[0]!.cleanInput);
  plainTimes.push((performance.now() - t) / 1000);
}
const plainSeconds = [...plainTimes].sort((a, b) => a - b)[2]!;
const fwd = (s: number) => (s / plainSeconds).toFixed(2);
const [group] = runs.groups;
if (!group || runs.groups.length !== 1) throw new Error('expected one batch of prompts');

/** Edges into the receivers of layer l (l = nLayers: the logits). */
const receiversOf = (l: number): number[] => (l >= nLayers ? [g.logitsReceiver] : Array.from({ length: 3 * g.nHeads + 1 }, (_, i) => g.layerReceiverStart(l) + i));
const edgesInto = (l: number): number => receiversOf(l).reduce((n, r) => n + g.fanIn[r]!, 0);

/**
 * ACDC's state on reaching layer l: every edge into later layers decided, about 97% of them pruned
 * the way circuits look: the kept edges come from a fifth of the senders (15% of their edges each),
 * so most senders lost every edge (the runtime then mixes them at their output).
 */
function stateAt(l: number): Uint8Array {
  const pruned = new Uint8Array(g.nSenders * R);
  const inCircuit = Array.from({ length: g.nSenders }, () => rand() < 0.2);
  for (const e of g.edges()) {
    if (g.receiverLayer(e.receiver) > l && !(inCircuit[e.sender] && rand() < 0.15)) pruned[e.sender * R + e.receiver] = 1;
  }
  return pruned;
}

const V = pm.config.vocabSize;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The naive way for the i-th edge into layer l's last receiver: one full forward, K = 1, from layer 0. */
async function naiveEdge(l: number, pruned: Uint8Array, i: number): Promise<number> {
  const r = receiversOf(l).at(-1)!;
  const data = Float32Array.from(pruned);
  data[((g.fanIn[r]! - 1 - i) % g.fanIn[r]!) * R + r] = 1;
  const masks = EdgeMasks.fromData(g, 1, data);
  const t = performance.now();
  const out = await pm.runPatched(group!.cleanInput, { source: groupRuns.corrupted.cache, base: groupRuns.clean.cache, masks, positions: group!.positions, fromLayer: 0 });
  let s = 0;
  group!.rows.forEach((row, b) => (s += kl.score(out.logits.subarray(b * V, (b + 1) * V), row.pair, groupRuns.cleanRows[b]!)));
  return (performance.now() - t) / 1000;
}

/** Seconds of n plain forwards of the batch, one by one. */
async function plainTimesOf(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await pm.plainForward(group!.cleanInput);
    out.push((performance.now() - t) / 1000);
  }
  return out;
}

/** ACDC's per-edge cost into layer l from `pruned`: --sample consecutive decisions, less the start-up evaluation. */
async function acdcEdge(l: number, pruned: Uint8Array): Promise<{ seconds: number; pruned: number; unread: number; passes: number }> {
  const r = await acdcTuned(runs, { tau, metric: kl, receivers: receiversOf(l), initialPruned: pruned, batch }, { maxDecisions: sample });
  const seconds = r.stats.seconds - r.stats.initialSeconds;
  return { seconds: seconds / r.log.length, pruned: r.log.filter((d) => d.pruned).length, unread: r.stats.unread, passes: r.stats.passes - 1 };
}

// 1. The start of a real run.
const perLayer = new Map<number, { n: number; s: number; pruned: number }>();
t0 = performance.now();
const last = t0;
// Time of each decision, by the progress reporter (called once per decision, in order).
const decidedAt: number[] = [last];
const real = await acdcTuned(runs, { tau, metric: kl, batch, progress: { step: (done) => (decidedAt[done] = performance.now()) } }, { maxDecisions: decisions });
real.log.forEach((d, i) => {
  const l = g.receiverLayer(d.receiver!);
  const acc = perLayer.get(l) ?? { n: 0, s: 0, pruned: 0 };
  acc.n++;
  acc.s += (decidedAt[i + 1]! - decidedAt[i]!) / 1000;
  acc.pruned += d.pruned ? 1 : 0;
  perLayer.set(l, acc);
});
const realSeconds = (performance.now() - t0) / 1000;
// The first interval included evaluating the full graph once (not a per-edge cost).
const firstLayer = perLayer.get(nLayers);
if (firstLayer) firstLayer.s -= real.stats.initialSeconds;
console.error(`real run: ${real.log.length} decisions in ${realSeconds.toFixed(1)} s, ${real.stats.passes} passes, ${real.stats.dropped} dropped`);

// 2. Per-edge costs, ACDC and naive alternated.
interface LayerCost {
  readonly layer: number;
  readonly acdc: number;
  readonly naive: number;
  readonly decisions: number;
  readonly pruned: number;
  /** The plain forward timed around this layer's decisions (median of 6). */
  readonly plain: number;
}
const costs: LayerCost[] = [];
for (const l of [nLayers, nLayers - 1, ...sampleLayers.filter((x) => x < nLayers - 1)]) {
  let state: Uint8Array;
  if (l >= nLayers - 1) {
    // The state the real run was in on reaching layer l.
    state = new Uint8Array(g.nSenders * R);
    for (const d of real.log) if (d.pruned && g.receiverLayer(d.receiver!) > l) state[d.sender * R + d.receiver!] = 1;
  } else {
    state = stateAt(l);
  }
  const a: number[] = [];
  const nv: number[] = [];
  let pruned = 0;
  let passes = 0;
  const plainHere = await plainTimesOf(3);
  for (let i = 0; i < reps; i++) {
    const x = await acdcEdge(l, state);
    a.push(x.seconds);
    pruned += x.pruned;
    passes = x.passes;
    // Decisions made without a pass (edges into nodes nothing reads) cost nothing; the rest one pass each.
    console.error(
      `layer ${l}: ${sample} decisions, ${x.unread} without a pass (into unread nodes), ${x.passes} passes, ${x.pruned} pruned; ${((x.seconds * sample) / Math.max(1, x.passes)).toFixed(3)} s a pass`,
    );
    nv.push(await naiveEdge(l, state, i));
  }
  plainHere.push(...(await plainTimesOf(3)));
  const plain = [...plainHere].sort((x, y) => x - y)[3]!;
  costs.push({ layer: l, acdc: median(a), naive: median(nv), decisions: sample * reps, pruned, plain });
  const perPass = (median(a) * sample) / Math.max(1, passes);
  console.error(
    `layer ${l}: ACDC ${a.map((x) => x.toFixed(2)).join(', ')} s/edge; naive ${nv.map((x) => x.toFixed(2)).join(', ')} s/edge; plain forward here ${plain.toFixed(3)} s (${plainHere.map((x) => x.toFixed(3)).join(', ')}): ${(median(a) / plain).toFixed(2)} plain forwards an edge, ${(perPass / plain).toFixed(2)} a pass`,
  );
}

// 3. Extrapolation: per-edge cost linear in the layer between measured layers, flat outside them.
const measured = [...costs].sort((a, b) => a.layer - b.layer);
const interp = (l: number, f: (c: LayerCost) => number): number => {
  const lo = [...measured].reverse().find((c) => c.layer <= l);
  const hi = measured.find((c) => c.layer >= l);
  if (!lo) return f(hi!);
  if (!hi) return f(lo);
  if (lo.layer === hi.layer) return f(lo);
  const w = (l - lo.layer) / (hi.layer - lo.layer);
  return f(lo) * (1 - w) + f(hi) * w;
};
let acdcTotal = 0;
let naiveTotal = 0;
let nEdges = 0;
const rows: string[] = [];
for (let l = nLayers; l >= 0; l--) {
  const n = edgesInto(l);
  nEdges += n;
  const a = interp(l, (c) => c.acdc);
  const aFwd = interp(l, (c) => c.acdc / c.plain);
  const nv = interp(l, (c) => c.naive);
  acdcTotal += n * a;
  naiveTotal += n * nv;
  const c = costs.find((x) => x.layer === l);
  const inReal = perLayer.get(l);
  const realCol = inReal ? `${(inReal.s / inReal.n).toFixed(3)} = ${fwd(inReal.s / inReal.n)} fwd (${inReal.n} edges, ${inReal.pruned} pruned)` : '';
  const name = l === nLayers ? 'logits' : `layer ${l}`;
  rows.push(`| ${name} | ${n} | ${a.toFixed(3)} | ${aFwd.toFixed(2)} | ${nv.toFixed(3)} | ${(nv / a).toFixed(1)}x | ${c ? `measured, ${c.decisions} edges` : 'interpolated'} | ${realCol} |`);
}
if (nEdges !== g.nEdges) throw new Error(`counted ${nEdges} edges, the graph has ${g.nEdges}`);

const h = (s: number) => `${(s / 3600).toFixed(1)} h`;
console.log(
  `Machine: ${machine()}. Model: gpt2-small shape (random weights), ${B} prompts x ${T} tokens, KL metric, noising, tau ${tau}, candidates per pass: ${batch ?? 'default (1 for 50 prompts)'}, ${threads ?? 'all'} threads.\n`,
);
console.log(
  `Clean + corrupted runs (once, shared by every threshold): ${prepareSeconds.toFixed(1)} s. Real run, first ${real.log.length} edges: ${realSeconds.toFixed(1)} s, ${fwd(realSeconds / real.log.length)} plain forwards an edge (${real.stats.passes} passes, ${real.stats.dropped} speculative results dropped).\n`,
);
console.log(`Plain forward (the unit "fwd"): ${plainSeconds.toFixed(3)} s, median of 5.\n`);
console.log(`| receivers | edges | ACDC s/edge (median) | ACDC plain forwards/edge (unit timed around the layer's decisions) | naive s/edge (median) | speed-up | | real run s/edge |`);
console.log('|---|---:|---:|---:|---:|---:|---|---|');
for (const r of rows) console.log(r);
console.log(
  `\nAll ${g.nEdges} edges, extrapolated: ACDC ${h(acdcTotal)} (${(acdcTotal / g.nEdges).toFixed(2)} s/edge = ${fwd(acdcTotal / g.nEdges)} plain forwards), naive ${h(naiveTotal)} (${(naiveTotal / g.nEdges).toFixed(2)} s/edge): ${(naiveTotal / acdcTotal).toFixed(1)}x faster.`,
);
await pm.release();
