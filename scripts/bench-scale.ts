// Scale table (issue 9): for GPT-2 shapes small .. XL (random weights, seed 0), the plain forward
// (PatchableModel.plainForward, weights fed), the patchable forward without patches (PatchableModel.run,
// full sender cache) and the all-heads activation-patching sweep (denoising, STR, logit difference),
// with each model's peak resident memory. Every model runs in its own child process, so the peak
// (VmHWM) is that model's alone.
//
// The full sweep of a big model takes hours on a small machine: the sweep is timed for the heads of
// a few layers (first, middle, last), one layer at a time, and the whole sweep is extrapolated
// (piecewise linear in the layer index between the measured layers, summed over every layer),
// labelled as such. Models of at most --full-max-layers layers also get the whole sweep measured,
// which checks the extrapolation. Big models take a smaller prompt batch (stated in the table).
//
// Usage: npx tsx scripts/bench-scale.ts [--presets gpt2-small,gpt2-medium,gpt2-large,gpt2-xl]
//        [--batch N (all models; default 50 up to medium, 20 large, 10 XL)] [--tokens 16]
//        [--layers first,middle,last | 0,5,11] [--full-max-layers 12] [--reps 3] [--threads N]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { StrCorruption } from '../src/core/vocabulary.js';
import { type Granularity, getGranularity } from '../src/experiment/components.js';
import { Experiment } from '../src/experiment/experiment.js';
import { getMetric } from '../src/experiment/metrics.js';
import { SILENT } from '../src/methods/method.js';
import { nodePatching } from '../src/methods/node-patching.js';
import { PatchableModel } from '../src/runtime/patchable-model.js';
import { initModel } from '../src/synthetic/init.js';
import { getPreset } from '../src/synthetic/presets.js';
import { benchDataset, machine, time } from './bench-support.js';

const { values: args } = parseArgs({
  options: {
    presets: { type: 'string', default: 'gpt2-small,gpt2-medium,gpt2-large,gpt2-xl' },
    batch: { type: 'string' },
    tokens: { type: 'string', default: '16' },
    layers: { type: 'string', default: 'first,middle,last' },
    'full-max-layers': { type: 'string', default: '12' },
    reps: { type: 'string', default: '3' },
    threads: { type: 'string' },
    child: { type: 'string' },
  },
});

/** Prompts per batch: the given --batch, or a smaller one for the big shapes (memory and time). */
const DEFAULT_BATCH: Readonly<Record<string, number>> = { 'gpt2-large': 20, 'gpt2-xl': 10 };
const batchOf = (preset: string): number => (args.batch === undefined ? (DEFAULT_BATCH[preset] ?? 50) : Number(args.batch));

/** What one child reports, as one JSON line on stdout. */
interface ScaleRow {
  readonly preset: string;
  readonly layers: number;
  readonly heads: number;
  readonly batch: number;
  readonly tokens: number;
  readonly plainMs: number;
  readonly runMs: number;
  /** Setup of a sweep: the clean and corrupted runs with their sender caches. */
  readonly setupMs: number;
  /** Sweep time of the heads of each measured layer. */
  readonly perLayerMs: Readonly<Record<number, number>>;
  /** The whole sweep, extrapolated from perLayerMs. */
  readonly sweepExtrapolatedMs: number;
  /** The whole sweep, measured (models of at most --full-max-layers layers). */
  readonly sweepMeasuredMs?: number;
  readonly peakGib: number;
}

const vmHwmGib = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 2 ** 20;

/** The measured layers: names first/middle/last or indices, deduplicated and in order. */
function measuredLayers(spec: string, nLayers: number): number[] {
  const named: Record<string, number> = { first: 0, middle: Math.floor((nLayers - 1) / 2), last: nLayers - 1 };
  const layers = spec.split(',').map((s) => {
    const L = s in named ? named[s]! : Number(s);
    if (!Number.isInteger(L) || L < 0 || L >= nLayers) throw new Error(`--layers: ${s} is not a layer of a ${nLayers}-layer model`);
    return L;
  });
  return [...new Set(layers)].sort((a, b) => a - b);
}

/** Sum over every layer of a per-layer cost known at some layers: linear between them, constant beyond. */
export function extrapolateSum(known: ReadonlyMap<number, number>, nLayers: number): number {
  const xs = [...known.keys()].sort((a, b) => a - b);
  let sum = 0;
  for (let L = 0; L < nLayers; L++) {
    const hi = xs.findIndex((x) => x >= L);
    if (hi === 0 || (hi > 0 && xs[hi] === L)) sum += known.get(xs[hi]!)!;
    else if (hi === -1) sum += known.get(xs[xs.length - 1]!)!;
    else {
      const a = xs[hi - 1]!;
      const b = xs[hi]!;
      sum += known.get(a)! + ((known.get(b)! - known.get(a)!) * (L - a)) / (b - a);
    }
  }
  return sum;
}

/** The heads granularity restricted to some layers (the same components, fewer of them). */
function headsOf(layers: readonly number[]): Granularity {
  const heads = getGranularity('heads');
  return { ...heads, components: (ctx) => heads.components(ctx).filter((c) => layers.includes(c.layer)) };
}

async function child(preset: string): Promise<ScaleRow> {
  const B = batchOf(preset);
  const T = Number(args.tokens);
  const reps = Number(args.reps);
  const threads = args.threads === undefined ? undefined : Number(args.threads);
  const model = initModel(getPreset(preset), 0);
  const { nLayers, nHeads } = model.config;
  const pm = new PatchableModel(model, { threads });
  const dataset = benchDataset({ pairs: B, length: T, keyPositions: [5] });
  const input = { tokens: dataset.pairs.map((p) => p.corrupted) };
  const plain = await time(`${preset} plain forward`, () => pm.plainForward(input), reps);
  const run = await time(`${preset} patchable forward (no patches)`, () => pm.run(input), reps);

  const exp = Experiment.plan(pm, dataset, { corruption: dataset.corruption as StrCorruption, batchSize: B });
  const metrics = [getMetric('logit-diff')];
  const base = { direction: 'denoising' as const, metrics, window: 1 };
  const [unit] = nodePatching.units(exp, { ...base, granularity: headsOf([]) });
  const group = exp.groups[0]!;
  const t0 = performance.now();
  await exp.runsOf(group);
  const setupMs = performance.now() - t0;
  // Only the sweep is timed: a unit releases its group's runs when done, so each sweep gets them
  // (and its session's baselines, plain forwards) made before its clock starts.
  const sweepOf = async (layers: readonly number[]): Promise<number> => {
    await exp.runsOf(group);
    const session = await nodePatching.open(exp, { ...base, granularity: headsOf(layers) });
    const s0 = performance.now();
    await session.run(unit!, SILENT);
    return performance.now() - s0;
  };
  const perLayer = new Map<number, number>();
  for (const L of measuredLayers(args.layers, nLayers)) {
    const ms = await sweepOf([L]);
    perLayer.set(L, ms);
    console.error(`${preset} heads of layer ${L} (${nHeads} heads): ${(ms / 1000).toFixed(1)} s`);
  }
  const sweepMeasuredMs = nLayers <= Number(args['full-max-layers']) ? await sweepOf(Array.from({ length: nLayers }, (_, L) => L)) : undefined;
  const peakGib = vmHwmGib();
  await pm.release();
  return {
    preset,
    layers: nLayers,
    heads: nHeads,
    batch: B,
    tokens: T,
    plainMs: plain.medianMs,
    runMs: run.medianMs,
    setupMs,
    perLayerMs: Object.fromEntries(perLayer),
    sweepExtrapolatedMs: extrapolateSum(perLayer, nLayers),
    ...(sweepMeasuredMs === undefined ? {} : { sweepMeasuredMs }),
    peakGib,
  };
}

const s = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);

function table(rows: readonly ScaleRow[]): string {
  const header = [
    'model',
    'layers x heads',
    'prompts x tokens',
    'plain fwd (s)',
    'patchable fwd (s)',
    'sweep setup (s)',
    'heads sweep, per measured layer (s)',
    'all-heads sweep (s)',
    'peak RSS (GiB)',
  ];
  const lines = rows.map((r) => [
    r.preset,
    `${r.layers} x ${r.heads}`,
    `${r.batch} x ${r.tokens}`,
    s(r.plainMs),
    s(r.runMs),
    s(r.setupMs),
    Object.entries(r.perLayerMs)
      .map(([L, ms]) => `L${L}: ${s(ms)}`)
      .join(', '),
    `${s(r.sweepExtrapolatedMs)} extrapolated${r.sweepMeasuredMs === undefined ? '' : `; ${s(r.sweepMeasuredMs)} measured`}`,
    r.peakGib.toFixed(2),
  ]);
  return [header, header.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

if (args.child !== undefined) {
  const row = await child(args.child);
  console.log(JSON.stringify(row));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows: ScaleRow[] = [];
  const self = fileURLToPath(import.meta.url);
  const passOn = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--presets') && all[i - 1] !== '--presets');
  for (const preset of args.presets.split(',')) {
    getPreset(preset);
    const res = spawnSync(process.execPath, [...process.execArgv, self, ...passOn, '--child', preset], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 20 });
    if (res.status !== 0) throw new Error(`${preset}: the child process failed (status ${res.status}, signal ${res.signal})`);
    rows.push(JSON.parse(res.stdout.trim().split('\n').at(-1)!) as ScaleRow);
  }
  console.log(`Machine: ${machine()}. Random weights (seed 0); denoising STR, logit difference; times are medians of ${args.reps} after a warm-up (sweeps: one run).`);
  console.log(table(rows));
}
