// Granularities of node-level activation patching: what a "component" is and which edges patching
// it sets in the mask. Patching a sender's output is patching every edge out of it; patching the
// residual stream entering layer L is patching every edge from a sender before L into a receiver
// at or after L. Registered in a table so new granularities are one entry.
import { UserError } from '../core/errors.js';
import type { GranularityName } from '../core/vocabulary.js';
import type { ComponentGraph } from '../graph/component-graph.js';
import { QKV } from '../graph/nodes.js';
import type { EdgeMasks } from '../runtime/masks.js';

export interface Component {
  /**
   * Stable name, e.g. `a3.h2`, `a3.h2@5`, `m3@5`, `attn.L3@5`, `attn.L3-5@5`, `resid_pre.L3@5`,
   * `a3.h2<q>`, and over all positions `attn.L3`, `attn.L3-4`, `m3`, `mlp.L3-4`.
   */
  readonly name: string;
  readonly kind: 'head' | 'head-pos' | 'attn' | 'mlp' | 'attn-layer' | 'mlp-layer' | 'resid' | 'head-q' | 'head-k' | 'head-v';
  /** First layer of the component (window start). */
  readonly layer: number;
  readonly head: number | null;
  readonly position: number | null;
  /** Number of adjacent layers patched together (1 = single layer). */
  readonly window: number;
  /** Sets this component's edges to 1 in configuration k. */
  apply(masks: EdgeMasks, k: number): void;
}

export interface GranularityContext {
  readonly graph: ComponentGraph;
  readonly seqLen: number;
  /** Adjacent layers patched together; only attn, mlp, attn-layer and mlp-layer take windows larger than 1. */
  readonly window: number;
}

export interface Granularity {
  readonly name: GranularityName;
  readonly description: string;
  readonly perPosition: boolean;
  readonly windowed: boolean;
  components(ctx: GranularityContext): Component[];
}

/** Sets every edge out of `sender` (into receivers of layer >= fromLayer) at `position` (or all). */
function patchSender(m: EdgeMasks, k: number, sender: number, position: number | null, fromLayer = 0): void {
  const g = m.graph;
  for (let r = 0; r < g.nReceivers; r++) {
    if (g.hasEdge(sender, r) && g.receiverLayer(r) >= fromLayer) m.set(k, sender, r, 1, position ?? undefined);
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function perLayerWindows(g: ComponentGraph, window: number): number[] {
  if (window < 1 || window > g.nLayers) throw new UserError(`window ${window} must be between 1 and the model's ${g.nLayers} layers`);
  return range(g.nLayers - window + 1);
}

const windowName = (L: number, w: number) => (w === 1 ? `L${L}` : `L${L}-${L + w - 1}`);

const heads: Granularity = {
  name: 'heads',
  description: 'every attention head, over all positions',
  perPosition: false,
  windowed: false,
  components: ({ graph: g }) =>
    range(g.nLayers).flatMap((L) =>
      range(g.nHeads).map((h) => ({
        name: `a${L}.h${h}`,
        kind: 'head' as const,
        layer: L,
        head: h,
        position: null,
        window: 1,
        apply: (m: EdgeMasks, k: number) => patchSender(m, k, g.headSender(L, h), null),
      })),
    ),
};

const headsPerPosition: Granularity = {
  name: 'heads-pos',
  description: 'every attention head at every position',
  perPosition: true,
  windowed: false,
  components: ({ graph: g, seqLen }) =>
    range(g.nLayers).flatMap((L) =>
      range(g.nHeads).flatMap((h) =>
        range(seqLen).map((p) => ({
          name: `a${L}.h${h}@${p}`,
          kind: 'head-pos' as const,
          layer: L,
          head: h,
          position: p,
          window: 1,
          apply: (m: EdgeMasks, k: number) => patchSender(m, k, g.headSender(L, h), p),
        })),
      ),
    ),
};

const attn: Granularity = {
  name: 'attn',
  description: 'attention output (all heads) of a layer, or a window of adjacent layers, at each position',
  perPosition: true,
  windowed: true,
  components: ({ graph: g, seqLen, window: w }) =>
    perLayerWindows(g, w).flatMap((L) =>
      range(seqLen).map((p) => ({
        name: `attn.${windowName(L, w)}@${p}`,
        kind: 'attn' as const,
        layer: L,
        head: null,
        position: p,
        window: w,
        apply: (m: EdgeMasks, k: number) => {
          for (let l = L; l < L + w; l++) for (let h = 0; h < g.nHeads; h++) patchSender(m, k, g.headSender(l, h), p);
        },
      })),
    ),
};

const mlp: Granularity = {
  name: 'mlp',
  description: 'MLP output of a layer, or a window of adjacent layers, at each position',
  perPosition: true,
  windowed: true,
  components: ({ graph: g, seqLen, window: w }) =>
    perLayerWindows(g, w).flatMap((L) =>
      range(seqLen).map((p) => ({
        name: `${w === 1 ? `m${L}` : `mlp.${windowName(L, w)}`}@${p}`,
        kind: 'mlp' as const,
        layer: L,
        head: null,
        position: p,
        window: w,
        apply: (m: EdgeMasks, k: number) => {
          for (let l = L; l < L + w; l++) patchSender(m, k, g.mlpSender(l), p);
        },
      })),
    ),
};

const attnLayer: Granularity = {
  name: 'attn-layer',
  description: 'attention output (all heads) of a layer, or a window of adjacent layers, over all positions',
  perPosition: false,
  windowed: true,
  components: ({ graph: g, window: w }) =>
    perLayerWindows(g, w).map((L) => ({
      name: `attn.${windowName(L, w)}`,
      kind: 'attn-layer' as const,
      layer: L,
      head: null,
      position: null,
      window: w,
      apply: (m: EdgeMasks, k: number) => {
        for (let l = L; l < L + w; l++) for (let h = 0; h < g.nHeads; h++) patchSender(m, k, g.headSender(l, h), null);
      },
    })),
};

const mlpLayer: Granularity = {
  name: 'mlp-layer',
  description: 'MLP output of a layer, or a window of adjacent layers, over all positions',
  perPosition: false,
  windowed: true,
  components: ({ graph: g, window: w }) =>
    perLayerWindows(g, w).map((L) => ({
      name: w === 1 ? `m${L}` : `mlp.${windowName(L, w)}`,
      kind: 'mlp-layer' as const,
      layer: L,
      head: null,
      position: null,
      window: w,
      apply: (m: EdgeMasks, k: number) => {
        for (let l = L; l < L + w; l++) patchSender(m, k, g.mlpSender(l), null);
      },
    })),
};

const resid: Granularity = {
  name: 'resid',
  description: 'residual stream entering each layer (and the final norm), at each position',
  perPosition: true,
  windowed: false,
  components: ({ graph: g, seqLen }) =>
    range(g.nLayers + 1).flatMap((L) =>
      range(seqLen).map((p) => ({
        name: `resid_pre.L${L}@${p}`,
        kind: 'resid' as const,
        layer: L,
        head: null,
        position: p,
        window: 1,
        apply: (m: EdgeMasks, k: number) => {
          for (let s = 0; s < g.layerSenderStartOrEnd(L); s++) patchSender(m, k, s, p, L);
        },
      })),
    ),
};

const headInputs: Granularity = {
  name: 'head-qkv',
  description: 'the query, key and value inputs of every head (all incoming edges), over all positions',
  perPosition: false,
  windowed: false,
  components: ({ graph: g }) =>
    range(g.nLayers).flatMap((L) =>
      range(g.nHeads).flatMap((h) =>
        QKV.map((ch) => ({
          name: `a${L}.h${h}<${ch}>`,
          kind: `head-${ch}` as const,
          layer: L,
          head: h,
          position: null,
          window: 1,
          apply: (m: EdgeMasks, k: number) => {
            const r = g.headInputReceiver(L, h, ch);
            for (let s = 0; s < g.fanIn[r]!; s++) m.set(k, s, r, 1);
          },
        })),
      ),
    ),
};

export const GRANULARITIES: Readonly<Record<GranularityName, Granularity>> = {
  heads,
  'heads-pos': headsPerPosition,
  attn,
  mlp,
  'attn-layer': attnLayer,
  'mlp-layer': mlpLayer,
  resid,
  'head-qkv': headInputs,
};

/** The granularity of a parsed name (names are checked where they are read: the pipeline schema). */
export function getGranularity(name: GranularityName): Granularity {
  return GRANULARITIES[name];
}
