// Benchmark of the attribution methods (issue 10) on the gpt2-small shape (random weights), 50
// prompts x 16 tokens, logit difference, noising, STR: eap for every edge, eap-ig-inputs (5 steps),
// AtP (node attribution) for all 144 heads, each as a multiple of the median plain forward
// (PatchableModel.plainForward, one ONNX graph) timed in the same process. Each method runs in its
// own process so its peak memory (VmHWM) is its own. `exact` for every edge is too slow to run
// whole: one chunk of edges into a receiver of a few sampled layers is timed, the per-edge cost
// interpolated linearly between sampled layers, and the total extrapolated over every edge.
// Usage: npm run bench:attribution [-- --reps N] [--method eap|eap-ig-inputs|atp|exact] [--exact-layers 0,6,12]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { StrCorruption } from '../src/core/vocabulary.js';
import { getGranularity } from '../src/experiment/components.js';
import { Experiment } from '../src/experiment/experiment.js';
import { getMetric } from '../src/experiment/metrics.js';
import { attributionScores } from '../src/methods/attribution.js';
import { SILENT } from '../src/methods/method.js';
import { nodeAttribution } from '../src/methods/node-attribution.js';
import { EdgeMasks } from '../src/runtime/masks.js';
import { PatchableModel } from '../src/runtime/patchable-model.js';
import { initModel } from '../src/synthetic/init.js';
import { benchDataset, machine, time } from './bench-support.js';

const METHODS = ['eap', 'eap-ig-inputs', 'atp', 'exact'] as const;
type BenchMethod = (typeof METHODS)[number];
/** Issue 10's targets, in plain forwards (exact has none). */
const TARGETS: Partial<Record<BenchMethod, number>> = { eap: 4, 'eap-ig-inputs': 15, atp: 4 };

const { values: args } = parseArgs({ options: { reps: { type: 'string', default: '3' }, method: { type: 'string' }, 'exact-layers': { type: 'string', default: '0,6,12' } } });
const reps = Number(args.reps);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: a whole number >= 1, got ${args.reps}`);

interface Measurement {
  readonly method: BenchMethod;
  readonly plainMs: number;
  readonly methodMs: number;
  readonly peakMb: number;
  readonly note: string;
}

const peakMb = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;

async function measure(method: BenchMethod): Promise<Measurement> {
  const B = 50;
  const T = 16;
  const dataset = benchDataset({ pairs: B, length: T, keyPositions: [5] });
  const STR = dataset.corruption as StrCorruption;
  const pairs = dataset.pairs;
  const pm = new PatchableModel(initModel('gpt2-small', 0));
  const metric = getMetric('logit-diff');
  const direction = 'noising' as const;
  // The clean and corrupted runs are made before timing: every method needs them, as a cache.
  const exp = await Experiment.prepare(pm, dataset, { corruption: STR, batchSize: B });
  const plain = await time('plain forward', () => pm.plainForward({ tokens: pairs.map((p) => p.clean) }), Math.max(5, reps));
  const graph = pm.graph;
  let methodMs: number;
  let note = '';
  if (method === 'eap' || method === 'eap-ig-inputs') {
    const scores = await time(method, () => attributionScores(exp, method, { metric, direction, steps: 5 }), reps);
    methodMs = scores.medianMs;
    note = `${graph.nEdges} edges`;
  } else if (method === 'atp') {
    const settings = { direction, metrics: [metric], granularity: getGranularity('heads'), window: 1 };
    const session = await nodeAttribution.open(exp, settings);
    const [unit] = nodeAttribution.units(exp, settings);
    let heads = 0;
    methodMs = (
      await time(
        'atp heads',
        async () => {
          heads = (await session.run(unit!, SILENT)).get('logit-diff')!.length / B;
        },
        reps,
      )
    ).medianMs;
    note = `${heads} heads`;
  } else {
    ({ ms: methodMs, note } = await exactExtrapolated(exp, metric, direction));
  }
  const m: Measurement = { method, plainMs: plain.medianMs, methodMs, peakMb: peakMb(), note };
  await pm.release();
  return m;
}

/** Timed chunks of edges (32 per pass, as exactEdgeEffects batches them) at sampled receiver layers, extrapolated to every edge. */
async function exactExtrapolated(exp: Experiment, metric: ReturnType<typeof getMetric>, direction: 'noising'): Promise<{ ms: number; note: string }> {
  const graph = exp.model.graph;
  const { nSenders: S, nReceivers: R } = graph;
  const K = 32;
  const edgesByLayer = new Map<number, number[]>();
  for (const e of graph.edges()) {
    const layer = graph.receiverLayer(e.receiver);
    edgesByLayer.set(layer, [...(edgesByLayer.get(layer) ?? []), e.sender * R + e.receiver]);
  }
  const layers = [...edgesByLayer.keys()].sort((a, b) => a - b);
  const sampled = args['exact-layers']!.split(',').map(Number);
  for (const l of sampled) if (!edgesByLayer.has(l)) throw new Error(`--exact-layers: no receiver layer ${l} (layers ${layers[0]}..${layers[layers.length - 1]})`);
  const perEdge = new Map<number, number>();
  for (const layer of sampled) {
    // The last K edges of the layer: the widest receivers, so the chunk is full.
    const chunk = edgesByLayer.get(layer)!.slice(-K);
    const data = new Float32Array(chunk.length * S * R);
    chunk.forEach((c, k) => (data[k * S * R + c] = 1));
    const masks = EdgeMasks.fromData(graph, chunk.length, data);
    const t = await time(`exact: ${chunk.length} edges into layer ${layer}`, () => exp.meanScores(masks, { direction, metric }), 1);
    perEdge.set(layer, t.medianMs / chunk.length);
  }
  // Per-edge cost of an unsampled layer: linear between the nearest sampled layers (flat outside).
  const xs = [...perEdge.keys()].sort((a, b) => a - b);
  const costAt = (l: number): number => {
    if (l <= xs[0]!) return perEdge.get(xs[0]!)!;
    if (l >= xs[xs.length - 1]!) return perEdge.get(xs[xs.length - 1]!)!;
    const hi = xs.findIndex((x) => x >= l);
    const [a, b] = [xs[hi - 1]!, xs[hi]!];
    return perEdge.get(a)! + ((perEdge.get(b)! - perEdge.get(a)!) * (l - a)) / (b - a);
  };
  let ms = 0;
  for (const [layer, cells] of edgesByLayer) ms += cells.length * costAt(layer);
  return { ms, note: `extrapolated from ${sampled.length} passes of ${K} edges (receiver layers ${sampled.join(', ')}) to ${graph.nEdges} edges` };
}

if (args.method !== undefined) {
  if (!(METHODS as readonly string[]).includes(args.method)) throw new Error(`--method: no method ${args.method} (${METHODS.join(', ')})`);
  // A child run: one JSON line on stdout for the parent.
  console.log(JSON.stringify(await measure(args.method as BenchMethod)));
} else {
  console.log(`Machine: ${machine()}. Model: gpt2-small shape (random weights), 50 prompts x 16 tokens, metric logit difference, noising, STR; each method in its own process.\n`);
  console.log('| method | work | plain forward (ms, median) | method (ms) | plain forwards | target | peak RSS (MB) |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  const script = fileURLToPath(import.meta.url);
  for (const method of METHODS) {
    const child = spawnSync(process.execPath, [...process.execArgv, script, '--method', method, '--reps', String(reps), '--exact-layers', args['exact-layers']!], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (child.status !== 0) throw new Error(`${method}: the child process failed (status ${child.status})`);
    const m = JSON.parse(child.stdout.trim().split('\n').pop()!) as Measurement;
    const ratio = m.methodMs / m.plainMs;
    const target = TARGETS[method];
    const verdict = target === undefined ? '-' : `<= ${target} (${ratio <= target ? 'met' : 'not met'})`;
    console.log(`| ${method} | ${m.note} | ${m.plainMs.toFixed(0)} | ${m.methodMs.toFixed(0)} | ${ratio.toFixed(1)} | ${verdict} | ${m.peakMb.toFixed(0)} |`);
  }
}
