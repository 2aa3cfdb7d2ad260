// Node attribution (AtP, Nanda 2023; Kramar et al. 2024): the first-order estimate of node
// patching's effects, for every granularity at once from one backward pass per metric and row group.
// A component is a mask (components.ts), and a patched run's metric is a function of the mask
// entries, so its effect is approximately sum_{s, r, t} M_c[s, r, t] dm/dM[s, r, t] at M = 0, where
// dm/dM[s, r, t] = (c_s - b_s)[t] . dm/d input_r[t] (src/gradients/edge-attribution.ts, scheme
// 'eap', per position for per-position components). Effects are normalised and stored exactly as
// node patching's (same units, same rows), so detection and the viewer read them alike.
import { checkMetrics, perPairMeans } from '../experiment/experiment.js';
import { gradientModelFor, groupEdgeScores } from '../gradients/edge-attribution.js';
import { EdgeMasks } from '../runtime/masks.js';
import type { Method } from './method.js';
import { componentsOf, type NodeEffects, type NodePatchingSession, type NodePatchingSettings } from './node-patching.js';
import type { EffectRow } from '../store/types.js';

/** Node attribution as a registry method: the units, settings and output of node patching. */
export const nodeAttribution: Method<NodePatchingSettings, NodeEffects, NodePatchingSession> = {
  name: 'node-attribution',
  units: (exp) => exp.groups.map((g) => g.key),
  check: (exp, s) => checkMetrics(exp.dataset, s.metrics),
  async open(exp, s) {
    const baselines = await exp.baselines(s.metrics);
    const gm = gradientModelFor(exp.model);
    const graph = exp.model.graph;
    const { nSenders: S, nReceivers: R } = graph;
    return {
      baselines,
      async run(unit, progress) {
        const g = exp.groups.find((x) => x.key === unit);
        if (g === undefined) throw new Error(`node attribution: no unit ${unit} in this experiment`);
        const perPosition = s.granularity.perPosition;
        const B = g.rows.length;
        const T = perPosition ? g.seqLen : 1;
        const comps = componentsOf(exp, s, g.seqLen);
        // Each component's nonzero mask entries (index into [T, S, R] or [S, R]) and values.
        const entries = comps.map((c) => {
          const m = EdgeMasks.zeros(graph, 1, perPosition ? g.seqLen : undefined);
          c.apply(m, 0);
          const idx: number[] = [];
          const val: number[] = [];
          m.data.forEach((v, i) => {
            if (v !== 0 && graph.hasEdge(Math.floor(i / R) % S, i % R)) {
              idx.push(i);
              val.push(v);
            }
          });
          return { idx, val };
        });
        const effects = new Map<string, EffectRow[]>(s.metrics.map((m) => [m.name, []]));
        for (const [mi, metric] of s.metrics.entries()) {
          const scores = await groupEdgeScores(exp, gm, g, { metric, direction: s.direction, points: [1], layout: perPosition ? 'positions' : 'rows' });
          const norm = baselines.metrics[metric.name]!.normaliser;
          const e = new Float64Array(comps.length * B);
          const per = T * S * R;
          entries.forEach(({ idx, val }, k) => {
            for (let b = 0; b < B; b++) {
              let acc = 0;
              for (let j = 0; j < idx.length; j++) acc += val[j]! * scores[b * per + idx[j]!]!;
              e[k * B + b] = acc / norm;
            }
          });
          perPairMeans(g, e).forEach((pairs, k) => {
            const c = comps[k]!;
            for (const [pair, value] of pairs) {
              effects.get(metric.name)!.push({ component: c.name, kind: c.kind, layer: c.layer, head: c.head, position: c.position, window: c.window, prompt: pair, value });
            }
          });
          progress.step(mi + 1, s.metrics.length);
        }
        return effects;
      },
    };
  },
};
