// Node-level patching effects as the views need them: a component's effect under every stored run
// (the circuit view's details), and runs' effects arranged as heatmap grids and window curves.
import type { VizRunEffects, VizRunInfo } from '../../src/viz-export/format.js';
import type { SiteData } from './data.js';

export interface NodeEffect {
  readonly run: VizRunInfo;
  /** The component row shown (for per-position components: the position of largest |effect|). */
  readonly component: string;
  readonly mean: number;
  readonly std: number;
  readonly n: number;
  /** Number of positions summarised (1 when the component has no position). */
  readonly positions: number;
  readonly detected: boolean;
}

/** Rows of a run's effects that belong to a graph node (a0.h1 or m3): heads, head-pos, head-q/k/v, single-layer MLP. */
function belongs(e: VizRunEffects, i: number, node: string): boolean {
  const kind = e.kind[i]!;
  const m = /^a(\d+)\.h(\d+)$/.exec(node);
  if (m) return kind.startsWith('head') && e.layer[i] === Number(m[1]) && e.head[i] === Number(m[2]);
  const mm = /^m(\d+)$/.exec(node);
  if (mm) return kind === 'mlp' && e.window[i] === 1 && e.layer[i] === Number(mm[1]);
  return false;
}

/** The node's effect in each run of the model (all runs when the model is unknown). */
export async function nodeEffects(data: SiteData, modelFingerprint: string | null, node: string): Promise<NodeEffect[]> {
  const runs = data.index.runs.filter((r) => modelFingerprint === null || r.modelFingerprint === modelFingerprint);
  const out: NodeEffect[] = [];
  for (const run of runs) {
    const e = await data.runEffects(run.id);
    // Group by kind (head vs head-q ...): one row per kind, the largest |mean| over positions.
    const best = new Map<string, { i: number; count: number }>();
    for (let i = 0; i < e.component.length; i++) {
      if (!belongs(e, i, node)) continue;
      const kind = e.kind[i]!;
      const b = best.get(kind);
      if (b === undefined) best.set(kind, { i, count: 1 });
      else {
        b.count++;
        if (Math.abs(e.mean[i]!) > Math.abs(e.mean[b.i]!)) b.i = i;
      }
    }
    for (const { i, count } of best.values()) {
      const detected = e.detections.some((d) => d.component === e.component[i] && d.position === e.position[i] && d.window === e.window[i]);
      out.push({ run, component: e.component[i]!, mean: e.mean[i]!, std: e.std[i]!, n: e.n[i]!, positions: count, detected });
    }
  }
  return out;
}

/** A family of comparable components: same kind and window, so one heatmap layout fits all. */
export interface Family {
  /** e.g. 'head', 'head-pos', 'attn:1', 'mlp:3'. */
  readonly key: string;
  readonly label: string;
  readonly kind: string;
  readonly window: number;
  /** Columns are heads (else positions). */
  readonly byHead: boolean;
  /** Per-position head family: a position is chosen. */
  readonly needsPosition: boolean;
}

export function familyOf(kind: string, window: number): Family {
  const byHead = kind.startsWith('head');
  const needsPosition = kind === 'head-pos';
  const w = window > 1 ? `, window ${window}` : '';
  const label =
    kind === 'head'
      ? 'heads (layer × head)'
      : kind === 'head-pos'
        ? 'heads per position (layer × head at a position)'
        : kind.startsWith('head-')
          ? `head ${kind.slice(5)} inputs (layer × head)`
          : kind.endsWith('-layer')
            ? `${kind === 'attn-layer' ? 'attention' : 'MLP'}, whole layer over all positions (layer${w})`
            : `${kind === 'resid' ? 'residual stream' : kind === 'attn' ? 'attention' : kind.toUpperCase()} (layer × position${w})`;
  return { key: byHead ? kind : `${kind}:${window}`, label, kind, window, byHead, needsPosition };
}

export interface Grid {
  readonly rows: number;
  readonly cols: number;
  readonly values: Map<string, { mean: number; std: number; n: number; component: string }>;
  readonly detected: Set<string>;
  readonly maxAbs: number;
}

export const cellKey = (r: number, c: number): string => `${r},${c}`;

/** A run's effects of one family as a layer x (head or position) grid. */
export function familyGrid(e: VizRunEffects, f: Family, position: number | undefined): Grid {
  const values = new Map<string, { mean: number; std: number; n: number; component: string }>();
  const cellOf = new Map<string, string>();
  let rows = 0;
  let cols = 0;
  let maxAbs = 0;
  const inFamily = (i: number): boolean => e.kind[i] === f.kind && (f.byHead || e.window[i] === f.window) && (!f.needsPosition || e.position[i] === position);
  for (let i = 0; i < e.component.length; i++) {
    if (!inFamily(i)) continue;
    const r = e.layer[i]!;
    const c = f.byHead ? (e.head[i] ?? 0) : (e.position[i] ?? 0);
    rows = Math.max(rows, r + 1);
    cols = Math.max(cols, c + 1);
    values.set(cellKey(r, c), { mean: e.mean[i]!, std: e.std[i]!, n: e.n[i]!, component: e.component[i]! });
    cellOf.set(e.component[i]!, cellKey(r, c));
    maxAbs = Math.max(maxAbs, Math.abs(e.mean[i]!));
  }
  const detected = new Set<string>();
  for (const d of e.detections) {
    const cell = cellOf.get(d.component);
    if (cell !== undefined && d.window === f.window) detected.add(cell);
  }
  return { rows, cols, values, detected, maxAbs };
}

/** Families present in a run's effects. */
export function familiesOf(e: VizRunEffects): Family[] {
  const seen = new Map<string, Family>();
  for (let i = 0; i < e.kind.length; i++) {
    const f = familyOf(e.kind[i]!, e.window[i]!);
    if (!seen.has(f.key)) seen.set(f.key, f);
  }
  return [...seen.values()];
}

/** Positions present for a kind of component. */
export function familyPositions(e: VizRunEffects, kind: string): number[] {
  const s = new Set<number>();
  for (let i = 0; i < e.kind.length; i++) if (e.kind[i] === kind && e.position[i] !== null) s.add(e.position[i]!);
  return [...s].sort((a, b) => a - b);
}

export interface WindowCurve {
  /** Window start layers. */
  readonly layers: number[];
  /** Effect of patching the window [L, L + w) together. */
  readonly window: (number | undefined)[];
  /** Sum of the single-layer effects over the same layers (undefined where one is missing). */
  readonly summed: (number | undefined)[];
}

/**
 * Sliding-window effects of one kind (attn or mlp) and window size at a position, against the sum
 * of single-layer effects over each window. Single layers come from `singles` (the same run when it
 * stored them, else a sibling run with window 1).
 */
export function windowCurve(e: VizRunEffects, singles: VizRunEffects, kind: string, w: number, position: number): WindowCurve {
  const single = new Map<number, number>();
  for (let i = 0; i < singles.kind.length; i++) if (singles.kind[i] === kind && singles.window[i] === 1 && singles.position[i] === position) single.set(singles.layer[i]!, singles.mean[i]!);
  const win = new Map<number, number>();
  for (let i = 0; i < e.kind.length; i++) if (e.kind[i] === kind && e.window[i] === w && e.position[i] === position) win.set(e.layer[i]!, e.mean[i]!);
  const layers = [...win.keys()].sort((a, b) => a - b);
  const summed = layers.map((L) => {
    let sum = 0;
    for (let l = L; l < L + w; l++) {
      const v = single.get(l);
      if (v === undefined) return undefined;
      sum += v;
    }
    return sum;
  });
  return { layers, window: layers.map((L) => win.get(L)), summed };
}

/** True when the run stored single-layer rows of this kind. */
export function hasSingles(e: VizRunEffects, kind: string): boolean {
  for (let i = 0; i < e.kind.length; i++) if (e.kind[i] === kind && e.window[i] === 1) return true;
  return false;
}
