// What each node writes, for the viewer's node details: the node's mean output over a run's prompts
// (at each prompt's metric position), through the final norm's gain and the unembedding, as the
// tokens it promotes and suppresses most. The norm's per-prompt scale is left out (a positive
// factor does not change the ranking); LayerNorm's centring is kept. Needs the model itself: a
// model whose files are gone, or whose fingerprint no longer matches, is skipped with a note.
import type { LoadedModel } from '../model/types.js';
import { loadPipelineModel } from '../pipeline/model-source.js';
import type { ModelSpec } from '../pipeline/spec.js';
import { PatchableModel } from '../runtime/patchable-model.js';
import type { Store } from '../store/store.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { writesChunk, type VizIndex, type VizTokenPush, type VizWrites, type VizWritesEntry } from './format.js';

/** Tokens listed per direction. */
export const TOP_TOKENS = 5;
/** Prompts averaged over (the most common length among the first ones). */
const MAX_PROMPTS = 32;

/** A stored model path back to its pipeline spec: planted and initialised models store their spec as JSON. */
function specOf(path: string): ModelSpec {
  if (path.startsWith('{')) {
    try {
      const v = JSON.parse(path) as Record<string, unknown>;
      if (v.plant === 'induction') return { plant: 'induction', seed: typeof v.seed === 'number' ? v.seed : 0 };
      if (typeof v.init === 'string') return { init: v.init, seed: typeof v.seed === 'number' ? v.seed : 0 };
    } catch {
      // Not a spec: a path that happens to start with a brace.
    }
  }
  return { path };
}

/** Equal-length prompts and their metric positions from a dataset's stored pairs. */
export function promptBatch(pairs: readonly unknown[], max = MAX_PROMPTS): { tokens: number[][]; positions: number[] } {
  const ok = pairs.flatMap((p) => {
    const q = p as { clean?: unknown; targets?: { position?: unknown }[]; metricPosition?: unknown };
    if (!Array.isArray(q.clean) || q.clean.length === 0 || !q.clean.every((x) => Number.isInteger(x))) return [];
    // The last metric target (pairs stored before targets had one metricPosition).
    const last = Array.isArray(q.targets) ? q.targets[q.targets.length - 1]?.position : q.metricPosition;
    const pos = typeof last === 'number' ? last : q.clean.length - 1;
    return [{ tokens: q.clean as number[], pos }];
  });
  const byLength = new Map<number, number>();
  for (const p of ok) byLength.set(p.tokens.length, (byLength.get(p.tokens.length) ?? 0) + 1);
  const length = [...byLength.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0];
  const chosen = ok.filter((p) => p.tokens.length === length).slice(0, max);
  return { tokens: chosen.map((p) => p.tokens), positions: chosen.map((p) => p.pos) };
}

/** Logits a residual-stream direction adds: (centred for LayerNorm) x gain, times the unembedding. */
export function directionLogits(model: LoadedModel, v: ArrayLike<number>): Float64Array {
  const { config: cfg, weights: w } = model;
  const d = cfg.dModel;
  const V = cfg.vocabSize;
  let mean = 0;
  if (cfg.norm === 'layernorm') {
    for (let i = 0; i < d; i++) mean += v[i]!;
    mean /= d;
  }
  const x = new Float64Array(d);
  for (let i = 0; i < d; i++) x[i] = (v[i]! - mean) * w.lnFinal.weight.data[i]!;
  const out = new Float64Array(V);
  const U = w.unembed.data;
  for (let i = 0; i < d; i++) {
    const xi = x[i]!;
    if (xi === 0) continue;
    const row = i * V;
    for (let t = 0; t < V; t++) out[t] = out[t]! + xi * U[row + t]!;
  }
  return out;
}

/** The most promoted and most suppressed tokens of a logit vector. */
export function topTokens(logits: Float64Array, name: (id: number) => string, k = TOP_TOKENS): { promoted: VizTokenPush[]; suppressed: VizTokenPush[] } {
  const ids = Array.from(logits.keys());
  ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
  const push = (id: number): VizTokenPush => ({ token: name(id), id, logit: logits[id]! });
  return { promoted: ids.slice(0, k).map(push), suppressed: ids.slice(-k).reverse().map(push) };
}

function tokenNamer(tokenizer: Tokenizer | undefined): (id: number) => string {
  return (id) => {
    if (!tokenizer) return `#${id}`;
    try {
      return tokenizer.decode([id]);
    } catch {
      return `#${id}`;
    }
  };
}

/** Writes of every node of one model, from one run's prompts. */
async function modelWrites(model: LoadedModel, tokenizer: Tokenizer | undefined, fingerprint: string, runId: number, batch: { tokens: number[][]; positions: number[] }): Promise<VizWrites> {
  const runner = new PatchableModel(model);
  let cache;
  let senders: Float32Array;
  try {
    ({ cache } = await runner.run({ tokens: batch.tokens }, 'last'));
    senders = await runner.senderRows.stack(cache);
  } finally {
    await runner.release();
  }
  const d = cache.dModel;
  const T = cache.seqLen;
  const B = cache.batch;
  const X = B * T * d;
  const name = tokenNamer(tokenizer);
  const nodes: Record<string, { promoted: VizTokenPush[]; suppressed: VizTokenPush[] }> = {};
  runner.graph.senders.forEach((s, si) => {
    const out = senders.subarray(si * X, (si + 1) * X);
    const mean = new Float64Array(d);
    for (let b = 0; b < B; b++) {
      const at = (b * T + batch.positions[b]!) * d;
      for (let i = 0; i < d; i++) mean[i] = mean[i]! + out[at + i]! / B;
    }
    nodes[s.name] = topTokens(directionLogits(model, mean), name);
  });
  return { modelFingerprint: fingerprint, runId, nPrompts: B, nodes };
}

/**
 * Writes chunks for the models of the index's circuits, from the prompts of each model's first
 * run; a model that cannot be loaded gets a note instead (the viewer says why).
 */
export async function collectWrites(store: Store, index: VizIndex): Promise<{ entries: VizWritesEntry[]; chunks: Map<string, VizWrites> }> {
  const entries: VizWritesEntry[] = [];
  const chunks = new Map<string, VizWrites>();
  const fingerprints = [...new Set(index.circuits.map((c) => c.modelFingerprint).filter((f): f is string => f !== null))];
  for (const fp of fingerprints) {
    const note = (text: string): void => {
      entries.push({ modelFingerprint: fp, chunk: null, note: text });
    };
    const row = await store.models.find(fp);
    if (!row) {
      note('the model is not in the database');
      continue;
    }
    const run = index.runs.find((r) => r.modelFingerprint === fp);
    if (!run) {
      note('no run of this model stores prompts to average over');
      continue;
    }
    let loaded;
    try {
      loaded = await loadPipelineModel(specOf(row.path));
    } catch (e) {
      note(`the model could not be loaded from ${row.path}: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    if (loaded.fingerprint !== fp) {
      note(`the model at ${row.path} is no longer the one the results came from (fingerprint changed)`);
      continue;
    }
    const batch = promptBatch(storedPairs((await store.datasets.get((await store.runs.get(run.id)).datasetId)).pairs));
    if (batch.tokens.length === 0) {
      note(`run ${run.id} stores no prompt token ids`);
      continue;
    }
    const chunk = writesChunk(fp);
    chunks.set(chunk, await modelWrites(loaded.model, loaded.tokenizer, fp, run.id, batch));
    entries.push({ modelFingerprint: fp, chunk, note: null });
  }
  return { entries, chunks };
}

/** The stored pairs of a dataset as a list (an empty one when the stored value is not a list). */
function storedPairs(pairs: unknown): unknown[] {
  return Array.isArray(pairs) ? pairs : [];
}
