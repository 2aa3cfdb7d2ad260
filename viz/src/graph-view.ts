// One sigma canvas showing edges of a component graph in the layered layout. The graphology graph
// holds every node, and exactly the edges currently shown: sigma processes and draws every edge it
// holds, hidden or not, so a small cut of a 32k-edge graph stays as cheap as a small graph.
import { DirectedGraph } from 'graphology';
import Sigma from 'sigma';
import { EdgeLineProgram, EdgeRectangleProgram } from 'sigma/rendering';
import type { EdgeDisplayData, NodeDisplayData } from 'sigma/types';
import { h } from './dom.js';
import type { EdgeIndex } from './edges.js';
import { bbox, layoutParams, placeNodes, type NodeKind, type Shape } from './layout.js';
import { NODE_COLORS } from './palette.js';

interface NodeAttrs {
  x: number;
  y: number;
  size: number;
  color: string;
  label: string | null;
  kind: NodeKind;
  channel: 'q' | 'k' | 'v' | null;
  owner: string | null;
}

interface EdgeAttrs {
  /** Edge index; -1 for the short connector from a q/k/v port to its head (not a graph edge). */
  k: number;
}

export interface EdgeStyle {
  /** 1 = drawn. */
  readonly visible: Uint8Array;
  readonly color: (k: number) => string;
  /** 0..1, e.g. |score| / max |score|: drawn as width (or, in dense views, opacity). */
  readonly strength: (k: number) => number;
}

export interface ViewStats {
  readonly name: string;
  /** Component nodes drawn (input, heads, MLPs, logits) that touch a drawn edge. */
  readonly nodes: number;
  /** q/k/v ports drawn. */
  readonly ports: number;
  /** Graph edges drawn (port connectors not counted). */
  readonly edges: number;
  readonly dense: boolean;
}

export interface GraphViewOptions {
  readonly name: string;
  readonly ix: EdgeIndex;
  /** Layout of this shape (the union shape in the compare view, so canvases line up). */
  readonly frame?: Shape;
  /** Text for hover tooltips. */
  readonly describeNode: (name: string) => string[];
  readonly describeEdge: (k: number) => string[];
  readonly onNodeClick?: (name: string) => void;
}

const NODE_SIZE: Readonly<Record<NodeKind, number>> = { input: 8, head: 5, mlp: 6.5, logits: 8, port: 2.6 };
/**
 * Above this many edges, draw 1-pixel lines (paler for smaller |score|) instead of quads (width for
 * |score|) and turn off edge hovering: without a GPU, quads and the edge picking pass make a
 * 32k-edge frame several times slower, and widths are unreadable at that density anyway.
 */
export const DENSE_EDGES = 4000;

/** Every live view, for the end-to-end tests' counts (window.__patchwise.stats()). */
const LIVE = new Set<GraphView>();

export function liveStats(): ViewStats[] {
  return [...LIVE].map((v) => v.stats());
}

export function liveView(name: string): GraphView | undefined {
  return [...LIVE].find((v) => v.name === name);
}

/**
 * The colour `hex` faded towards white by `t` (0 = white, 1 = the colour), opaque: sigma blends
 * with premultiplied alpha, so translucent colours would come out as wrong hues.
 */
function fade(hex: string, t: number): string {
  const n = parseInt(hex.slice(1), 16);
  const mix = (c: number): number => Math.round(255 + (c - 255) * t);
  return `rgb(${mix((n >> 16) & 255)},${mix((n >> 8) & 255)},${mix(n & 255)})`;
}

export class GraphView {
  readonly name: string;
  readonly sigma: Sigma<NodeAttrs, EdgeAttrs>;
  private readonly graph: DirectedGraph<NodeAttrs, EdgeAttrs>;
  private readonly ix: EdgeIndex;
  private style: EdgeStyle;
  private showAll = false;
  private dense = false;
  /** Nodes touching a visible edge, recomputed by setEdges. */
  private activeNodes = new Set<string>();
  private hovered: string | null = null;
  private selected: string | null = null;
  private readonly tooltip: HTMLDivElement;
  private readonly unsync: (() => void)[] = [];
  private readonly resizeObserver: ResizeObserver;

  constructor(container: HTMLElement, opts: GraphViewOptions) {
    this.name = opts.name;
    this.ix = opts.ix;
    const g = opts.ix.graph;
    const frame = opts.frame ?? g;
    // Spacing follows the container's shape, so the drawing fills it.
    const params = layoutParams(frame, container.clientWidth / Math.max(1, container.clientHeight));
    this.graph = new DirectedGraph<NodeAttrs, EdgeAttrs>({ multi: false, allowSelfLoops: false });
    for (const n of placeNodes(g, params)) {
      const color = n.kind === 'port' ? NODE_COLORS[n.channel!] : NODE_COLORS[n.kind];
      this.graph.addNode(n.key, { x: n.x, y: n.y, size: NODE_SIZE[n.kind], color, label: n.kind === 'port' ? null : n.key, kind: n.kind, channel: n.channel, owner: n.owner });
    }
    this.style = { visible: new Uint8Array(opts.ix.nEdges), color: () => '#000000', strength: () => 1 };

    this.tooltip = h('div', { class: 'tooltip', attrs: { hidden: true, role: 'tooltip' } });
    container.append(this.tooltip);
    this.sigma = new Sigma<NodeAttrs, EdgeAttrs>(this.graph, container, {
      renderEdgeLabels: false,
      enableEdgeEvents: true,
      hideEdgesOnMove: false,
      labelFont: 'system-ui, sans-serif',
      labelSize: 11,
      labelRenderedSizeThreshold: 4,
      defaultEdgeType: 'wide',
      edgeProgramClasses: { wide: EdgeRectangleProgram, thin: EdgeLineProgram },
      zIndex: true,
      minCameraRatio: 0.02,
      maxCameraRatio: 4,
      nodeReducer: (node, data) => this.reduceNode(node, data),
      edgeReducer: (_edge, data) => this.reduceEdge(data),
    });
    // Same frame for every view of a comparison, so positions line up and cameras can be shared.
    this.sigma.setCustomBBox(bbox(frame, params));

    // Hover highlighting restyles every edge; schedule:true folds a burst of events into one frame.
    this.sigma.on('enterNode', ({ node, event }) => {
      this.hovered = node;
      this.showTooltip(opts.describeNode(node), event.x, event.y);
      this.sigma.refresh({ skipIndexation: true, schedule: true });
    });
    this.sigma.on('leaveNode', () => {
      this.hovered = null;
      this.hideTooltip();
      this.sigma.refresh({ skipIndexation: true, schedule: true });
    });
    this.sigma.on('enterEdge', ({ edge, event }) => {
      const k = this.graph.getEdgeAttribute(edge, 'k');
      if (k >= 0) this.showTooltip(opts.describeEdge(k), event.x, event.y);
    });
    this.sigma.on('leaveEdge', () => this.hideTooltip());
    this.sigma.on('clickNode', ({ node }) => opts.onNodeClick?.(this.graph.getNodeAttribute(node, 'owner') ?? node));
    // Sigma only watches the window's size; a container that changes size alone (text wrapping
    // above it) would leave drawing and hit-testing at the old size.
    let size = `${container.offsetWidth}x${container.offsetHeight}`;
    this.resizeObserver = new ResizeObserver(() => {
      const now = `${container.offsetWidth}x${container.offsetHeight}`;
      if (now !== size) this.sigma.scheduleRefresh();
      size = now;
    });
    this.resizeObserver.observe(container);
    LIVE.add(this);
  }

  private reduceNode(node: string, data: NodeAttrs): Partial<NodeDisplayData> {
    const active = this.activeNodes.has(node);
    if (!active && !(this.showAll && data.kind !== 'port')) return { ...data, hidden: true };
    const out: Partial<NodeDisplayData> = { ...data, color: active ? data.color : NODE_COLORS.inactive };
    if (node === this.selected || (this.selected !== null && data.owner === this.selected)) {
      out.highlighted = true;
      out.forceLabel = data.kind !== 'port';
    }
    if (node === this.hovered) out.highlighted = true;
    return out;
  }

  private reduceEdge(data: EdgeAttrs): Partial<EdgeDisplayData> {
    const k = data.k;
    const type = this.dense ? 'thin' : 'wide';
    if (k < 0) return { color: '#b0b0b0', size: 0.8, zIndex: 0, type };
    const strength = Math.sqrt(Math.max(0, Math.min(1, this.style.strength(k))));
    const focus = this.hovered ?? this.selected;
    if (focus !== null && !this.touches(k, focus)) return { color: '#ececec', size: 0.6, zIndex: 0, type };
    const z = Math.round(strength * 10);
    return this.dense
      ? { color: fade(this.style.color(k), 0.15 + 0.85 * strength), size: 1, zIndex: z, type }
      : { color: this.style.color(k), size: 0.6 + 4.4 * strength, zIndex: z, type };
  }

  private touches(k: number, node: string): boolean {
    const g = this.ix.graph;
    if (g.senders[this.ix.sender[k]!]!.name === node) return true;
    const r = g.receivers[this.ix.receiver[k]!]!;
    return r.name === node || (r.kind === 'head-input' && `a${r.layer}.h${r.head}` === node);
  }

  /** Shows exactly the edges style.visible marks (plus connectors from used q/k/v ports to their heads). */
  setEdges(style: EdgeStyle): void {
    this.style = style;
    const active = new Set<string>();
    const g = this.ix.graph;
    const ix = this.ix;
    // One clear, not a drop per edge: sigma's per-edge drop handler is linear in the graph's size.
    this.graph.clearEdges();
    let n = 0;
    for (let k = 0; k < ix.nEdges; k++) {
      if (style.visible[k] !== 1) continue;
      const s = g.senders[ix.sender[k]!]!;
      const r = g.receivers[ix.receiver[k]!]!;
      this.graph.addDirectedEdgeWithKey(String(k), s.name, r.name, { k });
      n++;
      active.add(s.name);
      active.add(r.name);
      if (r.kind === 'head-input') active.add(`a${r.layer}.h${r.head}`);
    }
    for (const node of active) {
      const owner = this.graph.getNodeAttribute(node, 'owner');
      if (owner !== null) this.graph.addDirectedEdgeWithKey(`port:${node}`, node, owner, { k: -1 });
    }
    this.activeNodes = active;
    this.dense = n > DENSE_EDGES;
    this.sigma.setSetting('enableEdgeEvents', !this.dense);
    this.sigma.refresh();
  }

  // Scheduled, not immediate: a setEdges in the same task renders once for all (each full render of
  // a 32k-edge graph costs a visible fraction of a second without a GPU).
  setShowAll(on: boolean): void {
    this.showAll = on;
    this.sigma.refresh({ skipIndexation: true, schedule: true });
  }

  select(node: string | null): void {
    this.selected = node !== null && this.graph.hasNode(node) ? node : null;
    this.sigma.refresh({ skipIndexation: true, schedule: true });
  }

  /** Counts of what sigma actually draws (from its display data, after the reducers). */
  stats(): ViewStats {
    let nodes = 0;
    let ports = 0;
    let edges = 0;
    this.graph.forEachNode((n, a) => {
      const d = this.sigma.getNodeDisplayData(n);
      if (!d || d.hidden || !this.activeNodes.has(n)) return;
      if (a.kind === 'port') ports++;
      else nodes++;
    });
    this.graph.forEachEdge((e, a) => {
      const d = this.sigma.getEdgeDisplayData(e);
      if (a.k >= 0 && d && !d.hidden) edges++;
    });
    return { name: this.name, nodes, ports, edges, dense: this.dense };
  }

  /** Where a node is drawn, in pixels from the container's top left (undefined when not drawn). */
  nodePosition(node: string): { x: number; y: number } | undefined {
    const d = this.sigma.getNodeDisplayData(node);
    if (!d || d.hidden) return undefined;
    const p = this.sigma.framedGraphToViewport(d);
    return { x: p.x, y: p.y };
  }

  /** Moves every other view's camera with this one's, and the other way round. */
  syncCameras(others: readonly GraphView[]): void {
    let busy = false;
    const all = [this, ...others];
    for (const v of all) {
      const cam = v.sigma.getCamera();
      const listener = (): void => {
        if (busy) return;
        busy = true;
        for (const w of all) if (w !== v) w.sigma.getCamera().setState(cam.getState());
        busy = false;
      };
      cam.on('updated', listener);
      this.unsync.push(() => cam.off('updated', listener));
    }
  }

  private showTooltip(lines: readonly string[], x: number, y: number): void {
    this.tooltip.replaceChildren(...lines.map((l, i) => h('div', { class: i === 0 ? 'tt-title' : 'tt-line' }, l)));
    this.tooltip.hidden = false;
    const c = this.sigma.getContainer();
    const left = Math.min(x + 14, c.clientWidth - this.tooltip.offsetWidth - 4);
    const top = Math.min(y + 14, c.clientHeight - this.tooltip.offsetHeight - 4);
    this.tooltip.style.left = `${Math.max(0, left)}px`;
    this.tooltip.style.top = `${Math.max(0, top)}px`;
  }

  private hideTooltip(): void {
    this.tooltip.hidden = true;
  }

  kill(): void {
    this.resizeObserver.disconnect();
    for (const f of this.unsync) f();
    LIVE.delete(this);
    this.sigma.kill();
    this.tooltip.remove();
  }
}
