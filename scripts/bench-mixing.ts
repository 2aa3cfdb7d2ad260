// The mixing product of a per-receiver layer on its own (issue 9, half of all edges patched): the
// R receivers' patch terms sum_s M[s, r] D[s] from the A earlier senders' differences D, each
// B x T x d wide, on onnxruntime's CPU matmul, in two layouts:
//   - senders outermost, as the runtime keeps its difference stack: M^T [R, A] x D [A, X] -> [R, X]
//     (X = B T d), which is the layout the receivers' norms and projections read;
//   - senders innermost: D [X, A] x M [A, R] -> [X, R], and the same followed by the transpose to
//     [R, X] that the norms would need.
// Beside them, the time to read D once from JavaScript (one float per cache line), a floor for any
// kernel that must stream the differences from memory. One thread; medians of --reps runs.
//
// Usage: npx tsx scripts/bench-mixing.ts [--senders 72,144] [--receivers 37] [--reps 7]
import { parseArgs } from 'node:util';
import { GraphBuilder } from '../src/runtime/onnx/builder.js';
import { reshape, transpose } from '../src/runtime/onnx/ops.js';
import { type Feeds, f32, SessionPool } from '../src/runtime/sessions.js';
import { machine } from './bench-support.js';

const { values: args } = parseArgs({
  options: {
    senders: { type: 'string', default: '72,144' },
    receivers: { type: 'string', default: '37' },
    reps: { type: 'string', default: '7' },
  },
});
const BT = 50 * 16;
const d = 768;
const X = BT * d;
const R = Number(args.receivers);
const reps = Number(args.reps);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
let seed = 1;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;

// Graph outputs are cut to 16 columns so that copying them out to JavaScript is not timed.
const first16 = (g: GraphBuilder, y: string, axis: number) => g.op('Slice', [y, g.ints([0]), g.ints([16]), g.ints([axis])]);

function sendersOutermost(A: number) {
  const g = new GraphBuilder(`outer_${A}`);
  const D = g.input('D', 'float32', [A, X]);
  const mT = g.input('mT', 'float32', [R, A]);
  g.output(first16(g, g.op('MatMul', [mT, D]), -1), 'y', 'float32', [R, 16]);
  return g.build();
}

function sendersInnermost(A: number, thenTranspose: boolean) {
  const g = new GraphBuilder(`inner_${A}_${thenTranspose}`);
  const D = g.input('D', 'float32', [X, A]);
  const m = g.input('m', 'float32', [A, R]);
  const y = g.op('MatMul', [D, m]);
  if (thenTranspose) g.output(first16(g, transpose(g, reshape(g, y, [BT, d, R]), [2, 0, 1]), -1), 'y', 'float32', [R, BT, 16]);
  else g.output(first16(g, y, 0), 'y', 'float32', [16, R]);
  return g.build();
}

const pool = new SessionPool({ threads: 1 });
console.log(`${machine()}. B x T = ${BT}, d = ${d}, ${R} receivers, one thread, median of ${reps}.`);
console.log('| senders A | D (MB) | read D once from JS (ms) | M^T D, senders outermost (ms) | D M, senders innermost (ms) | D M, then transposed to [R, X] (ms) |');
console.log('|---:|---:|---:|---:|---:|---:|');
for (const A of args.senders.split(',').map(Number)) {
  const D = new Float32Array(A * X);
  for (let i = 0; i < D.length; i++) D[i] = rand();
  const m = new Float32Array(A * R).map(() => (rand() < 0 ? 1 : 0));
  const mT = new Float32Array(R * A);
  for (let s = 0; s < A; s++) for (let r = 0; r < R; r++) mT[r * A + s] = m[s * R + r]!;
  const cases: [string, () => ReturnType<typeof sendersOutermost>, Feeds][] = [
    ['outer', () => sendersOutermost(A), { D: f32(D, [A, X]), mT: f32(mT, [R, A]) }],
    ['inner', () => sendersInnermost(A, false), { D: f32(D, [X, A]), m: f32(m, [A, R]) }],
    ['inner+T', () => sendersInnermost(A, true), { D: f32(D, [X, A]), m: f32(m, [A, R]) }],
  ];
  const times = new Map<string, number[]>();
  const read: number[] = [];
  for (let rep = 0; rep <= reps; rep++) {
    const t0 = performance.now();
    let sum = 0;
    for (let i = 0; i < D.length; i += 16) sum += D[i]!;
    if (rep > 0) read.push(performance.now() - t0);
    if (Number.isNaN(sum)) throw new Error('unreachable: D holds finite values');
    for (const [name, build, feeds] of cases) {
      const t = performance.now();
      await pool.run(`${name}_${A}`, build, feeds);
      if (rep > 0) times.set(name, [...(times.get(name) ?? []), performance.now() - t]);
    }
  }
  const ms = (name: string) => median(times.get(name)!).toFixed(1);
  console.log(`| ${A} | ${((D.length * 4) / 1e6).toFixed(0)} | ${median(read).toFixed(1)} | ${ms('outer')} | ${ms('inner')} | ${ms('inner+T')} |`);
}
await pool.release();
