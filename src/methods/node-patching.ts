// Node-level activation patching: every component of a granularity (heads, MLPs, the residual
// stream, ...) patched through the runtime's masks, many components per pass and each pass starting
// at the first layer it touches. A unit of work is one row group of the experiment (a batch of pairs
// of one length); its effects come out as store rows, one per (component, pair), averaged over
// noise samples.
import type { Direction } from '../core/vocabulary.js';
import type { Component, Granularity } from '../experiment/components.js';
import { type Baselines, checkMetrics, type Experiment, perPairMeans } from '../experiment/experiment.js';
import type { Metric } from '../experiment/metrics.js';
import { EdgeMasks } from '../runtime/masks.js';
import type { EffectRow } from '../store/types.js';
import type { Method, MethodSession, ProgressReporter } from './method.js';

export interface NodePatchingSettings {
  readonly direction: Direction;
  /** Every metric is scored from the same patched logits. */
  readonly metrics: readonly Metric[];
  readonly granularity: Granularity;
  /** Adjacent layers patched together (windowed granularities); single layers are computed beside. */
  readonly window: number;
  /** Components per runtime pass (default 16). */
  readonly configsPerPass?: number;
}

/** Effects of one unit: per metric name, one row per (component, pair). */
export type NodeEffects = ReadonlyMap<string, readonly EffectRow[]>;

export interface NodePatchingSession extends MethodSession<NodeEffects> {
  readonly baselines: Baselines;
}

/** Components of this granularity for prompts of length seqLen, with single-layer ones beside windows. */
export function componentsOf(exp: Experiment, s: NodePatchingSettings, seqLen: number): Component[] {
  const ctx = { graph: exp.model.graph, seqLen };
  const list = s.granularity.components({ ...ctx, window: s.window });
  // Zhang & Nanda compare a window's effect with the sum of its single layers' effects: compute both.
  if (s.window > 1) list.push(...s.granularity.components({ ...ctx, window: 1 }));
  return list;
}

async function runUnit(exp: Experiment, s: NodePatchingSettings, baselines: Baselines, unit: string, progress: ProgressReporter): Promise<NodeEffects> {
  const g = exp.groups.find((x) => x.key === unit);
  if (g === undefined) throw new Error(`node patching: no unit ${unit} in this experiment`);
  const { direction, metrics } = s;
  const perPass = Math.max(1, s.configsPerPass ?? 16);
  try {
    const base = await Promise.all(metrics.map((m) => exp.baseScores(g, direction, m)));
    // Components that start at the same layer share a pass, so each pass reuses the longest prefix.
    const comps = componentsOf(exp, s, g.seqLen).sort((a, b) => a.layer - b.layer);
    const effects = new Map<string, EffectRow[]>(metrics.map((m) => [m.name, []]));
    const B = g.rows.length;
    for (let i = 0; i < comps.length; ) {
      const layer = comps[i]!.layer;
      const chunk: Component[] = [];
      while (i < comps.length && comps[i]!.layer === layer && chunk.length < perPass) chunk.push(comps[i++]!);
      const masks = EdgeMasks.zeros(exp.model.graph, chunk.length, s.granularity.perPosition ? g.seqLen : undefined);
      chunk.forEach((c, k) => c.apply(masks, k));
      const all = await exp.scoreGroupMetrics(g, masks, metrics, { direction });
      metrics.forEach((m, mi) => {
        const norm = baselines.metrics[m.name]!.normaliser;
        const e = new Float64Array(chunk.length * B);
        for (let k = 0; k < chunk.length; k++) for (let b = 0; b < B; b++) e[k * B + b] = (all[mi]![k * B + b]! - base[mi]![b]!) / norm;
        perPairMeans(g, e).forEach((pairs, k) => {
          const c = chunk[k]!;
          for (const [pair, value] of pairs) {
            effects.get(m.name)!.push({ component: c.name, kind: c.kind, layer: c.layer, head: c.head, position: c.position, window: c.window, prompt: pair, value });
          }
        });
      });
      progress.step(i, comps.length);
    }
    return effects;
  } finally {
    exp.release(g);
  }
}

/** Node patching as a registry method: units are the experiment's row groups. */
export const nodePatching: Method<NodePatchingSettings, NodeEffects, NodePatchingSession> = {
  name: 'node-patching',
  units: (exp) => exp.groups.map((g) => g.key),
  check: (exp, s) => checkMetrics(exp.dataset, s.metrics),
  async open(exp, s) {
    const baselines = await exp.baselines(s.metrics);
    return { baselines, run: (unit, progress) => runUnit(exp, s, baselines, unit, progress) };
  },
};
