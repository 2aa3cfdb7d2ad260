// Node-level activation patching: every component of a granularity (heads, MLPs, the residual
// stream, ...) patched through the runtime's masks, many components per pass and each pass starting
// at the first layer it touches. A unit of work is one row group of the experiment (a batch of pairs
// of one length); its effects come out as store rows, one per (component, pair), averaged over
// noise samples.
import type { Direction } from '../core/vocabulary.js';
import { type Component, type Granularity, type NamedPosition, type PositionChoice, pairPosition, positionChoiceName } from '../experiment/components.js';
import { type Baselines, checkMetrics, type Experiment, perPairMeans, type RowGroup } from '../experiment/experiment.js';
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
  /**
   * Per-position granularities: every position (default), or one per prompt (its last key token, a
   * role's position); rows of a group at different positions get a pass each, as in path patching.
   */
  readonly positions?: PositionChoice;
}

/** Effects of one unit: per metric name, one row per (component, pair). */
export type NodeEffects = ReadonlyMap<string, readonly EffectRow[]>;

export interface NodePatchingSession extends MethodSession<NodeEffects> {
  readonly baselines: Baselines;
}

/** Components of this granularity for prompts of length seqLen (at one named position, if given), with single-layer ones beside windows. */
export function componentsOf(exp: Experiment, s: NodePatchingSettings, seqLen: number, at?: NamedPosition): Component[] {
  const ctx = { graph: exp.model.graph, seqLen, ...(at === undefined ? {} : { at }) };
  const list = s.granularity.components({ ...ctx, window: s.window });
  // Zhang & Nanda compare a window's effect with the sum of its single layers' effects: compute both.
  if (s.window > 1) list.push(...s.granularity.components({ ...ctx, window: 1 }));
  return list;
}

/** Each row's patch position under a one-position choice; undefined when every position is patched. */
function rowPositions(g: RowGroup, s: NodePatchingSettings): number[] | undefined {
  const choice = s.positions ?? 'all';
  return choice === 'all' ? undefined : g.rows.map((r) => pairPosition(r.pair, choice));
}

async function runUnit(exp: Experiment, s: NodePatchingSettings, baselines: Baselines, unit: string, progress: ProgressReporter): Promise<NodeEffects> {
  const g = exp.groups.find((x) => x.key === unit);
  if (g === undefined) throw new Error(`node patching: no unit ${unit} in this experiment`);
  const { direction, metrics } = s;
  const perPass = Math.max(1, s.configsPerPass ?? 16);
  try {
    const base = await Promise.all(metrics.map((m) => exp.baseScores(g, direction, m)));
    const B = g.rows.length;
    const at = rowPositions(g, s);
    // One set of passes per distinct position (one set when every position is patched); a row's
    // effect comes from the passes at its own position, so every component gets one value per row.
    const positions = at === undefined ? [undefined] : [...new Set(at)].sort((a, b) => a - b);
    const name = positionChoiceName(s.positions ?? 'all');
    const values = new Map<string, { component: Component; e: Float64Array[] }>();
    const total = positions.length * componentsOf(exp, s, g.seqLen, at === undefined ? undefined : { name, position: at[0]! }).length;
    let done = 0;
    for (const pos of positions) {
      // Components that start at the same layer share a pass, so each pass reuses the longest prefix.
      const comps = componentsOf(exp, s, g.seqLen, pos === undefined ? undefined : { name, position: pos }).sort((a, b) => a.layer - b.layer);
      for (let i = 0; i < comps.length; ) {
        const layer = comps[i]!.layer;
        const chunk: Component[] = [];
        while (i < comps.length && comps[i]!.layer === layer && chunk.length < perPass) chunk.push(comps[i++]!);
        const masks = EdgeMasks.zeros(exp.model.graph, chunk.length, s.granularity.perPosition ? g.seqLen : undefined);
        chunk.forEach((c, k) => c.apply(masks, k));
        const all = await exp.scoreGroupMetrics(g, masks, metrics, { direction });
        chunk.forEach((c, k) => {
          let slot = values.get(c.name);
          if (slot === undefined) values.set(c.name, (slot = { component: c, e: metrics.map(() => new Float64Array(B)) }));
          metrics.forEach((m, mi) => {
            const norm = baselines.metrics[m.name]!.normaliser;
            for (let b = 0; b < B; b++) if (at === undefined || at[b] === pos) slot.e[mi]![b] = (all[mi]![k * B + b]! - base[mi]![b]!) / norm;
          });
        });
        done += chunk.length;
        progress.step(done, total);
      }
    }
    const effects = new Map<string, EffectRow[]>(metrics.map((m) => [m.name, []]));
    for (const { component: c, e } of values.values()) {
      metrics.forEach((m, mi) => {
        for (const [pair, value] of perPairMeans(g, e[mi]!)[0]!) {
          effects.get(m.name)!.push({ component: c.name, kind: c.kind, layer: c.layer, head: c.head, position: c.position, window: c.window, prompt: pair, value });
        }
      });
    }
    return effects;
  } finally {
    exp.release(g);
  }
}

/** Problems of a one-position choice: a granularity without positions, or a pair without the position. */
function positionProblems(exp: Experiment, s: NodePatchingSettings): string[] {
  const choice = s.positions ?? 'all';
  if (choice === 'all') return [];
  if (!s.granularity.perPosition) {
    return [`positions: ${positionChoiceName(choice)} needs a per-position granularity (heads-pos, attn, mlp or resid), got ${s.granularity.name}`];
  }
  for (const p of exp.dataset.pairs) {
    try {
      pairPosition(p, choice);
    } catch (e) {
      return [`positions: ${(e as Error).message}`];
    }
  }
  return [];
}

/** Node patching as a registry method: units are the experiment's row groups. */
export const nodePatching: Method<NodePatchingSettings, NodeEffects, NodePatchingSession> = {
  name: 'node-patching',
  units: (exp) => exp.groups.map((g) => g.key),
  check: (exp, s) => [...checkMetrics(exp.dataset, s.metrics), ...positionProblems(exp, s)],
  async open(exp, s) {
    const baselines = await exp.baselines(s.metrics);
    return { baselines, run: (unit, progress) => runUnit(exp, s, baselines, unit, progress) };
  },
};
