// Granularities of node-level activation patching: what a "component" is and which edges patching
// it sets in the mask. Patching a sender's output is patching every edge out of it; patching the
// residual stream entering layer L is patching every edge from a sender before L into a receiver
// at or after L. Registered in a table so new granularities are one entry.
import { UserError } from '../core/errors.js';
import type { GranularityName } from '../core/vocabulary.js';
import type { ComponentGraph } from '../graph/component-graph.js';
import { QKV } from '../graph/nodes.js';
import type { EdgeMasks } from '../runtime/masks.js';
import type { PromptPair } from '../tasks/types.js';

export interface Component {
  /**
   * Stable name, e.g. `a3.h2`, `a3.h2@5`, `m3@5`, `attn.L3@5`, `attn.L3-5@5`, `resid_pre.L3@5`,
   * `a3.h2<q>`, and over all positions `attn.L3`, `attn.L3-4`, `m3`, `mlp.L3-4`; at one named position
   * per prompt (GranularityContext.at) `mlp.L3-7@last-key`, `a3.h2@END`.
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
  /**
   * Per-position granularities: patch this one position instead of each, naming components by
   * `at.name` (`m3@last-key`) with position null, so one prompt's position and another's are the
   * same component (the position is each prompt's own).
   */
  readonly at?: NamedPosition;
}

/** One position of the prompts in a pass, named by what it is in each prompt (e.g. last-key). */
export interface NamedPosition {
  readonly name: string;
  readonly position: number;
}

/**
 * Which positions per-position granularities patch: every position, or one per prompt: its last
 * key token (Zhang & Nanda's last subject token, where the task's key tokens are the subject) or
 * the position of a role of the task's pairs (e.g. END).
 */
export type PositionChoice = 'all' | 'last-key' | { readonly role: string };

export const positionChoiceName = (c: PositionChoice): string => (typeof c === 'string' ? c : c.role);

/** The position a pair is patched at under a one-position choice; an error naming the pair when it has none. */
export function pairPosition(pair: PromptPair, choice: Exclude<PositionChoice, 'all'>): number {
  if (choice === 'last-key') {
    if (pair.keyPositions.length === 0) throw new UserError(`pair ${pair.index} has no key tokens, so no last key token to patch`);
    return Math.max(...pair.keyPositions);
  }
  const p = pair.roles[choice.role];
  if (p === undefined) throw new UserError(`pair ${pair.index} has no role ${choice.role} (its roles: ${Object.keys(pair.roles).join(', ') || 'none'})`);
  return p;
}

/** The positions a per-position granularity makes components for: each, or the one named. */
function positionsOf({ seqLen, at }: GranularityContext): { position: number; label: string; stored: number | null }[] {
  if (at !== undefined) return [{ position: at.position, label: at.name, stored: null }];
  return range(seqLen).map((p) => ({ position: p, label: String(p), stored: p }));
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
  components: (ctx) =>
    range(ctx.graph.nLayers).flatMap((L) =>
      range(ctx.graph.nHeads).flatMap((h) =>
        positionsOf(ctx).map(({ position: p, label, stored }) => ({
          name: `a${L}.h${h}@${label}`,
          kind: 'head-pos' as const,
          layer: L,
          head: h,
          position: stored,
          window: 1,
          apply: (m: EdgeMasks, k: number) => patchSender(m, k, ctx.graph.headSender(L, h), p),
        })),
      ),
    ),
};

const attn: Granularity = {
  name: 'attn',
  description: 'attention output (all heads) of a layer, or a window of adjacent layers, at each position',
  perPosition: true,
  windowed: true,
  components: (ctx) =>
    perLayerWindows(ctx.graph, ctx.window).flatMap((L) =>
      positionsOf(ctx).map(({ position: p, label, stored }) => ({
        name: `attn.${windowName(L, ctx.window)}@${label}`,
        kind: 'attn' as const,
        layer: L,
        head: null,
        position: stored,
        window: ctx.window,
        apply: (m: EdgeMasks, k: number) => {
          for (let l = L; l < L + ctx.window; l++) for (let h = 0; h < ctx.graph.nHeads; h++) patchSender(m, k, ctx.graph.headSender(l, h), p);
        },
      })),
    ),
};

const mlp: Granularity = {
  name: 'mlp',
  description: 'MLP output of a layer, or a window of adjacent layers, at each position',
  perPosition: true,
  windowed: true,
  components: (ctx) =>
    perLayerWindows(ctx.graph, ctx.window).flatMap((L) =>
      positionsOf(ctx).map(({ position: p, label, stored }) => ({
        name: `${ctx.window === 1 ? `m${L}` : `mlp.${windowName(L, ctx.window)}`}@${label}`,
        kind: 'mlp' as const,
        layer: L,
        head: null,
        position: stored,
        window: ctx.window,
        apply: (m: EdgeMasks, k: number) => {
          for (let l = L; l < L + ctx.window; l++) patchSender(m, k, ctx.graph.mlpSender(l), p);
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
  components: (ctx) =>
    range(ctx.graph.nLayers + 1).flatMap((L) =>
      positionsOf(ctx).map(({ position: p, label, stored }) => ({
        name: `resid_pre.L${L}@${label}`,
        kind: 'resid' as const,
        layer: L,
        head: null,
        position: stored,
        window: 1,
        apply: (m: EdgeMasks, k: number) => {
          for (let s = 0; s < ctx.graph.layerSenderStartOrEnd(L); s++) patchSender(m, k, s, p, L);
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
