// Reads everything the viewer shows out of the store, as the data files' payloads (format.ts): the
// index (runs, circuits, curves) and one chunk per run (mean effects, detections) and per circuit
// (scores and mask in edge order), so the viewer loads only what a view needs.
import { basename } from 'node:path';
import { forEachEdge } from '../circuits/circuit.js';
import { isJsonObject, type Json } from '../store/json.js';
import type { Store } from '../store/store.js';
import type { CurveRecord } from '../store/types.js';
import {
  VIZ_FORMAT_VERSION,
  circuitChunk,
  packBits,
  packFloat32,
  runChunk,
  type VizCircuitChunk,
  type VizCircuitInfo,
  type VizCurve,
  type VizIndex,
  type VizRunEffects,
  type VizRunInfo,
} from './format.js';

/** Prompt pairs shown per run: enough for context, few enough to keep the index small. */
const PROMPT_EXAMPLES = 5;

export interface CollectedSite {
  readonly index: VizIndex;
  /** Chunk name -> payload (a VizRunEffects or VizCircuitChunk). */
  readonly chunks: ReadonlyMap<string, VizRunEffects | VizCircuitChunk>;
}

export interface CollectOptions {
  /** Only runs and circuits of this pipeline (default: everything in the database). */
  readonly pipeline?: string;
  /** Fixed build time, for reproducible output in tests. */
  readonly builtAt?: string;
}

const str = (v: Json | undefined): string | null => (typeof v === 'string' ? v : null);
const num = (v: Json | undefined): number | null => (typeof v === 'number' ? v : null);

interface DatasetInfo {
  readonly prompts: { clean: string; corrupted: string }[];
  readonly roles: Record<string, number>;
}

/** Example prompt texts and the shared role positions of a dataset's stored pairs. */
function datasetInfo(pairs: Json): DatasetInfo {
  if (!Array.isArray(pairs)) return { prompts: [], roles: {} };
  const prompts: { clean: string; corrupted: string }[] = [];
  let roles: Record<string, number> | null = null;
  for (const pair of pairs) {
    if (!isJsonObject(pair)) continue;
    if (prompts.length < PROMPT_EXAMPLES && typeof pair.cleanText === 'string') {
      prompts.push({ clean: pair.cleanText, corrupted: typeof pair.corruptedText === 'string' ? pair.corruptedText : '' });
    }
    // Role positions label heatmap columns only when every pair puts each role at the same position.
    const r = isJsonObject(pair.roles) ? pair.roles : {};
    if (roles === null) {
      roles = {};
      for (const [k, v] of Object.entries(r)) if (typeof v === 'number') roles[k] = v;
    } else {
      for (const k of Object.keys(roles)) if (r[k] !== roles[k]) delete roles[k];
    }
  }
  return { prompts, roles: roles ?? {} };
}

export async function collectSite(store: Store, opts: CollectOptions = {}): Promise<CollectedSite> {
  const chunks = new Map<string, VizRunEffects | VizCircuitChunk>();
  const filter = opts.pipeline === undefined ? {} : { pipeline: opts.pipeline };

  const runs: VizRunInfo[] = [];
  const datasets = new Map<number, DatasetInfo>();
  for (const summary of await store.runs.list(filter)) {
    const run = await store.runs.get(summary.id);
    let ds = datasets.get(run.datasetId);
    if (ds === undefined) {
      ds = datasetInfo((await store.datasets.get(run.datasetId)).pairs);
      datasets.set(run.datasetId, ds);
    }
    const [effects, detections] = await Promise.all([store.runs.meanEffects(run.id), store.runs.detections(run.id)]);
    const s = isJsonObject(run.settings) ? run.settings : {};
    const receivers = Array.isArray(s.receivers) && s.receivers.every((x) => typeof x === 'string') ? (s.receivers as string[]) : null;
    const atp = (await store.agreements.forRun(run.id)).find((a) => a.estimateRunId === run.id);
    const baselines = run.detail?.stage === 'patching' ? { clean: run.detail.baselines.clean, corrupted: run.detail.baselines.corrupted } : null;
    runs.push({
      id: run.id,
      pipeline: run.pipeline,
      key: run.key,
      status: run.status,
      model: run.model,
      modelFingerprint: run.modelFingerprint,
      task: run.task,
      corruption: str(s.corruption),
      direction: str(s.direction),
      metric: str(s.metric),
      granularity: str(s.granularity),
      window: num(s.window),
      receivers,
      receiverSet: str(s.receiverSet) ?? receivers?.join(',') ?? null,
      baselines,
      nPairs: run.pairs,
      prompts: ds.prompts,
      roles: ds.roles,
      nComponents: effects.length,
      nDetections: detections.length,
      method: str(s.method),
      agreement: atp === undefined ? null : { exactRunId: atp.exactRunId, agreement: atp.agreement },
    });
    chunks.set(runChunk(run.id), {
      runId: run.id,
      component: effects.map((e) => e.component),
      kind: effects.map((e) => e.kind),
      layer: effects.map((e) => e.layer),
      head: effects.map((e) => e.head),
      position: effects.map((e) => e.position),
      window: effects.map((e) => e.window),
      mean: effects.map((e) => e.mean),
      std: effects.map((e) => e.std),
      n: effects.map((e) => e.n),
      detections: detections.map((d) => ({ component: d.component, layer: d.layer, head: d.head, position: d.position, window: d.window, mean: d.mean, zscore: d.zscore, sign: d.sign })),
    });
  }

  const circuits: VizCircuitInfo[] = [];
  for (const info of await store.circuits.list(filter)) {
    const c = await store.circuits.load(info.id);
    const g = c.graph;
    const R = g.nReceivers;
    // Edge order drops the [sender x receiver] padding: 32,491 entries for gpt2-small, not 69,865.
    const scores = new Float32Array(g.nEdges);
    const mask = new Uint8Array(g.nEdges);
    forEachEdge(g, (s, r, k) => {
      scores[k] = c.scores[s * R + r]!;
      mask[k] = c.mask[s * R + r]!;
    });
    const chunk: VizCircuitChunk = { id: info.id, scores: packFloat32(scores), mask: packBits(mask) };
    chunks.set(circuitChunk(info.id), chunk);
    circuits.push({
      id: info.id,
      pipeline: info.pipeline,
      key: info.key,
      runId: info.runId,
      method: c.meta.method,
      metric: c.meta.metric,
      corruption: c.meta.corruption,
      direction: c.meta.direction,
      threshold: c.meta.threshold,
      faithfulness: c.meta.faithfulness,
      modelName: c.meta.model.name,
      modelFingerprint: c.meta.model.fingerprint,
      nLayers: g.nLayers,
      nHeads: g.nHeads,
      nEdges: g.nEdges,
      nScored: c.nScored,
      size: c.size,
      // Filled in by the writer, which knows the file's size.
      bytes: 0,
    });
  }

  const curves: VizCurve[] = (await store.curves.list(filter)).map(vizCurve);

  return {
    index: { version: VIZ_FORMAT_VERSION, source: basename(store.path), builtAt: opts.builtAt ?? new Date().toISOString(), runs, circuits, curves },
    chunks,
  };
}

/** A stored curve as the viewer reads it: one array per field instead of one object per point. */
export function vizCurve(cv: CurveRecord): VizCurve {
  return {
    pipeline: cv.pipeline,
    key: cv.key,
    kind: cv.kind,
    runId: cv.runId,
    circuitId: cv.circuitId,
    threshold: cv.points.map((p) => p.threshold),
    size: cv.points.map((p) => p.size),
    faithfulness: cv.points.map((p) => p.faithfulness),
    tpr: cv.points.map((p) => p.tpr),
    fpr: cv.points.map((p) => p.fpr),
  };
}
