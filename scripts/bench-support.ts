// Shared helpers of the benchmark scripts: timing with warm-up and medians, and machine facts.
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { Random } from '../src/core/random.js';
import type { Dataset, PromptPair } from '../src/tasks/types.js';

export interface Timing {
  readonly name: string;
  readonly medianMs: number;
  readonly runs: number[];
}

/** Runs `f` once to warm up, then `reps` times; reports the median wall time. */
export async function time(name: string, f: () => Promise<unknown>, reps = 5): Promise<Timing> {
  await f();
  const runs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    runs.push(performance.now() - t0);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  const t: Timing = { name, medianMs: sorted[Math.floor(sorted.length / 2)]!, runs };
  console.error(`${name}: median ${t.medianMs.toFixed(0)} ms (${runs.map((r) => r.toFixed(0)).join(', ')})`);
  return t;
}

export function machine(): string {
  const ort = JSON.parse(readFileSync(new URL('../node_modules/onnxruntime-node/package.json', import.meta.url), 'utf8')) as { version: string };
  return `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}, onnxruntime-node ${ort.version}`;
}

/**
 * The benchmarks' dataset: `pairs` prompts of `length` random tokens (seeded), each corrupted prompt
 * replacing the tokens at `keyPositions`, and the metric read at the last position.
 */
export function benchDataset(opts: { readonly pairs: number; readonly length: number; readonly keyPositions: readonly number[]; readonly random?: Random }): Dataset {
  const T = opts.length;
  // A caller that draws more after the dataset passes its own stream (seeded 7 otherwise).
  const random = opts.random ?? new Random(7);
  const tok = (): number => 1000 + Math.floor(random.uniform() * 40000);
  const keys = new Set(opts.keyPositions);
  const pairs: PromptPair[] = Array.from({ length: opts.pairs }, (_, index) => {
    const clean = Array.from({ length: T }, tok);
    const corrupted = clean.map((t, i) => (keys.has(i) ? tok() : t));
    const roles: Record<string, number> = opts.keyPositions.length === 1 ? { KEY: opts.keyPositions[0]!, END: T - 1 } : { END: T - 1 };
    return { index, clean, corrupted, targets: [{ position: T - 1, answer: tok(), wrong: tok() }], keyPositions: [...opts.keyPositions], roles };
  });
  return { task: 'bench', settings: {}, corruption: { kind: 'str', variant: 'random-token' }, pairs };
}
