import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { initModel } from '../src/synthetic/init.js';
import { buildAttributionGraph } from '../src/gradients/attribution-graph.js';
import { f32 } from '../src/runtime/sessions.js';
const m = initModel('gpt2-small', 0);
const cfg = m.config;
const B = 50,
  T = 16,
  N = 50;
const d = cfg.dModel;
const V = cfg.vocabSize;
const S = 1 + cfg.nLayers * (cfg.nHeads + 1);
const P = Number(process.argv[2] ?? 1);
const threads = Number(process.argv[3] ?? 2);
const rss = () => (Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024).toFixed(0);
const g = buildAttributionGraph(cfg, m.weights, B, T, N, 'sum', P);
const sess = await ort.InferenceSession.create(g.graph.bytes, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  enableCpuMemArena: true,
  enableMemPattern: false,
});
const feeds: Record<string, ort.Tensor> = {};
for (const w of g.graph.weights) feeds[w.name] = f32(w.data, w.dims);
for (const z of g.zeros) feeds[z.name] = f32(new Float32Array(z.shape.reduce((a, b) => a * b, 1)), z.shape);
const pick = new Float32Array(P * N * P * B * T);
for (let b = 0; b < P * B; b++) pick[b * P * B * T + b * T + T - 1] = 1;
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 0.1);
Object.assign(feeds, {
  input: f32(rnd(P * B * T * d), [P * B, T, d]),
  pick: f32(pick, [P * N, P * B * T]),
  seed_add: f32(new Float32Array(N * V).fill(0.001), [N, V]),
  seed_weights: f32(new Float32Array(N * V), [N, V]),
  seed_self: f32(new Float32Array(N), [N, 1]),
  source_senders: f32(rnd(S * B * T * d), [S, B, T, d]),
  base_senders: f32(rnd(S * B * T * d), [S, B, T, d]),
});
for (let i = 0; i < 4; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sess.run(feeds);
  const c = process.cpuUsage(c0);
  console.log(`P=${P} threads=${threads} run ${i}: wall ${(performance.now() - t0).toFixed(0)} cpu ${((c.user + c.system) / 1000).toFixed(0)} ms rss ${rss()}`);
}
