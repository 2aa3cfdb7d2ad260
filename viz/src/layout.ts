// Where each node of the component graph sits: input at the left, logits at the right, one column
// of heads (head index downwards) and one MLP per layer, and each head's q/k/v inputs as three
// small ports just left of it, so edges into queries, keys and values end at different points.
import type { ComponentGraph } from '../../src/graph/component-graph.js';

export interface Shape {
  readonly nLayers: number;
  readonly nHeads: number;
}

export interface LayoutParams {
  /** Horizontal distance between layers (head rows are 1 apart). */
  readonly layerWidth: number;
  readonly portDx: number;
  readonly portDy: number;
}

/**
 * Spacing such that the drawing's width / height is about `aspect` (the container's), within limits
 * that keep a layer's ports, heads and MLP apart.
 */
export function layoutParams(shape: Shape, aspect = 2): LayoutParams {
  const height = shape.nHeads + 0.6;
  const layerWidth = Math.min(6, Math.max(1.2, (aspect * height - 1) / (shape.nLayers + 0.6)));
  return { layerWidth, portDx: Math.min(0.4, 0.22 * layerWidth), portDy: 0.26 };
}

export type NodeKind = 'input' | 'head' | 'mlp' | 'logits' | 'port';

export interface PlacedNode {
  /** Graph node key: the component's name ('a0.h1', 'm3', 'input', 'logits', or a port 'a0.h1<q>'). */
  readonly key: string;
  readonly kind: NodeKind;
  readonly x: number;
  readonly y: number;
  readonly layer: number | null;
  readonly head: number | null;
  readonly channel: 'q' | 'k' | 'v' | null;
  /** For ports: the head they belong to. */
  readonly owner: string | null;
}

export function placeNodes(g: ComponentGraph, p: LayoutParams): PlacedNode[] {
  const mid = -(g.nHeads - 1) / 2;
  const W = p.layerWidth;
  const out: PlacedNode[] = [{ key: 'input', kind: 'input', x: 0, y: mid, layer: null, head: null, channel: null, owner: null }];
  for (let L = 0; L < g.nLayers; L++) {
    const ax = W * (L + 0.6);
    for (let H = 0; H < g.nHeads; H++) {
      const name = `a${L}.h${H}`;
      out.push({ key: name, kind: 'head', x: ax, y: -H, layer: L, head: H, channel: null, owner: null });
      (['q', 'k', 'v'] as const).forEach((ch, i) => {
        out.push({ key: `${name}<${ch}>`, kind: 'port', x: ax - p.portDx, y: -H + (1 - i) * p.portDy, layer: L, head: H, channel: ch, owner: name });
      });
    }
    out.push({ key: `m${L}`, kind: 'mlp', x: W * (L + 1), y: mid, layer: L, head: null, channel: null, owner: null });
  }
  out.push({ key: 'logits', kind: 'logits', x: W * (g.nLayers + 0.6), y: mid, layer: null, head: null, channel: null, owner: null });
  return out;
}

/** The node an edge into receiver r ends at: the port for q/k/v, the MLP node, or logits. */
export function receiverNode(g: ComponentGraph, r: number): string {
  return g.receivers[r]!.name;
}

export function bbox(shape: Shape, p: LayoutParams): { x: [number, number]; y: [number, number] } {
  return { x: [-0.5, p.layerWidth * (shape.nLayers + 0.6) + 0.5], y: [-(shape.nHeads - 1) - 0.8, 1.3] };
}
