// Shared helpers of the benchmark scripts: timing with warm-up and medians, and machine facts.
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';

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
