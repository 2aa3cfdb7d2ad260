// One sigma canvas showing edges of a component graph in the layered layout. The graphology graph
// holds every node, and exactly the edges currently shown: sigma processes and draws every edge it
// holds, hidden or not, so a small cut of a 32k-edge graph stays as cheap as a small graph.
import { DirectedGraph } from 'graphology';
import Sigma from 'sigma';
import { EdgeLineProgram, EdgeRectangleProgram } from 'sigma/rendering';
import type { EdgeDisplayData, NodeDisplayData } from 'sigma/types';
import { h, s } from './dom.js';
import type { EdgeIndex } from './edges.js';
import { bbox, layoutParams, placeNodes, type LayoutParams, type NodeKind, type Shape } from './layout.js';
import { NODE_COLORS } from './palette.js';

interface NodeAttrs {
  x: number;
  y: number;
  size: number;
  color: string;
  label: string | null;
  /** The label where columns are too close for the full name (heads: 'h7', the layer heading says 'L1'). */
  shortLabel: string | null;
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
  /** A node was clicked or chosen with Enter (its owning head for a q/k/v port); null clears the selection. */
  readonly onSelect?: (name: string | null) => void;
  /** The pointer or the keyboard cursor is on a node (null: on none), for linked highlighting. */
  readonly onHover?: (name: string | null) => void;
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

const LABEL_SIZE = 11;
const LABEL_FONT = 'system-ui, sans-serif';

export class GraphView {
  readonly name: string;
  readonly sigma: Sigma<NodeAttrs, EdgeAttrs>;
  private readonly graph: DirectedGraph<NodeAttrs, EdgeAttrs>;
  private readonly ix: EdgeIndex;
  private readonly params: LayoutParams;
  private readonly opts: GraphViewOptions;
  private style: EdgeStyle;
  private showAll = false;
  private dense = false;
  /** Nodes touching a visible edge, recomputed by setEdges. */
  private activeNodes = new Set<string>();
  private hovered: string | null = null;
  /** Highlighted from outside: the other panel of a comparison, a row of the edge table. */
  private linked: string | null = null;
  private linkedEdge: number | null = null;
  private selected: string | null = null;
  /** Draw heads as 'h7' under their layer's heading: set before each frame from the zoom. */
  private shortLabels = false;
  private readonly tooltip: HTMLDivElement;
  private readonly headings: HTMLDivElement;
  private readonly unsync: (() => void)[] = [];
  private readonly resizeObserver: ResizeObserver;

  constructor(container: HTMLElement, opts: GraphViewOptions) {
    this.name = opts.name;
    this.ix = opts.ix;
    this.opts = opts;
    const g = opts.ix.graph;
    const frame = opts.frame ?? g;
    // Spacing follows the container's shape, so the drawing fills it.
    const params = layoutParams(frame, container.clientWidth / Math.max(1, container.clientHeight));
    this.params = params;
    this.graph = new DirectedGraph<NodeAttrs, EdgeAttrs>({ multi: false, allowSelfLoops: false });
    for (const n of placeNodes(g, params)) {
      const color = n.kind === 'port' ? NODE_COLORS[n.channel!] : NODE_COLORS[n.kind];
      const shortLabel = n.kind === 'head' ? `h${n.head}` : n.kind === 'port' ? null : n.key;
      this.graph.addNode(n.key, { x: n.x, y: n.y, size: NODE_SIZE[n.kind], color, label: n.kind === 'port' ? null : n.key, shortLabel, kind: n.kind, channel: n.channel, owner: n.owner });
    }
    this.style = { visible: new Uint8Array(opts.ix.nEdges), color: () => '#000000', strength: () => 1 };

    this.tooltip = h('div', { class: 'tooltip', attrs: { hidden: true, role: 'tooltip' } });
    // Layer headings above the columns, an HTML overlay kept in place after every frame.
    this.headings = h('div', { class: 'layer-headings', attrs: { 'aria-hidden': 'true' } });
    for (let L = 0; L < g.nLayers; L++) this.headings.append(h('span', { class: 'layer-heading', data: { layer: L } }, `L${L}`));
    container.append(this.headings, this.tooltip);
    // Focusable, so nodes can be visited from the keyboard (arrows), selected (Enter) and cleared (Escape).
    container.tabIndex = 0;
    container.setAttribute('role', 'application');
    container.setAttribute('aria-label', `${opts.name} graph: arrow keys move between nodes, Enter selects, Escape clears the selection`);
    this.sigma = new Sigma<NodeAttrs, EdgeAttrs>(this.graph, container, {
      renderEdgeLabels: false,
      enableEdgeEvents: true,
      hideEdgesOnMove: false,
      labelFont: LABEL_FONT,
      labelSize: LABEL_SIZE,
      labelRenderedSizeThreshold: 0,
      // Every drawn node is labelled (forceLabel): sigma's label grid would drop about a third.
      defaultDrawNodeLabel: (ctx, data) => this.drawLabel(ctx, data as unknown as NodeDisplayData & NodeAttrs),
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
      opts.onHover?.(this.graph.getNodeAttribute(node, 'owner') ?? node);
      this.sigma.refresh({ skipIndexation: true, schedule: true });
    });
    this.sigma.on('leaveNode', () => {
      this.hovered = null;
      this.hideTooltip();
      opts.onHover?.(null);
      this.sigma.refresh({ skipIndexation: true, schedule: true });
    });
    this.sigma.on('enterEdge', ({ edge, event }) => {
      const k = this.graph.getEdgeAttribute(edge, 'k');
      if (k >= 0) this.showTooltip(opts.describeEdge(k), event.x, event.y);
    });
    this.sigma.on('leaveEdge', () => this.hideTooltip());
    // Clicking the selected node again, the empty canvas, or Escape clears the selection.
    this.sigma.on('clickNode', ({ node }) => {
      const target = this.graph.getNodeAttribute(node, 'owner') ?? node;
      opts.onSelect?.(target === this.selected ? null : target);
    });
    this.sigma.on('clickStage', () => {
      if (this.selected !== null) opts.onSelect?.(null);
    });
    container.addEventListener('keydown', (e) => this.onKey(e));
    container.addEventListener('blur', () => {
      if (this.hovered !== null) this.moveCursor(null);
    });
    this.sigma.on('beforeRender', () => {
      const a = this.sigma.graphToViewport({ x: 0, y: 0 });
      const b = this.sigma.graphToViewport({ x: 1, y: 0 });
      const unit = Math.abs(b.x - a.x);
      // Room right of a head before the next layer's q/k/v ports, against the width of 'a11.h11'.
      const room = (this.params.layerWidth - this.params.portDx) * unit - NODE_SIZE.head - 6;
      const chars = 3 + String(g.nLayers - 1).length + String(g.nHeads - 1).length;
      this.shortLabels = room < chars * LABEL_SIZE * 0.62;
    });
    this.sigma.on('afterRender', () => this.placeHeadings());
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
    const out: Partial<NodeDisplayData> = { ...data, color: active ? data.color : NODE_COLORS.inactive, forceLabel: data.kind !== 'port' };
    if (node === this.selected || (this.selected !== null && data.owner === this.selected)) out.highlighted = true;
    if (node === this.hovered || node === this.linked) out.highlighted = true;
    return out;
  }

  /** The node edges are focused on: hovered, else linked from outside, else the selection while it is drawn. */
  private focus(): string | null {
    const sel = this.selected !== null && this.activeNodes.has(this.selected) ? this.selected : null;
    const linked = this.linked !== null && this.activeNodes.has(this.linked) ? this.linked : null;
    return this.hovered ?? linked ?? sel;
  }

  private reduceEdge(data: EdgeAttrs): Partial<EdgeDisplayData> {
    const k = data.k;
    const type = this.dense ? 'thin' : 'wide';
    if (k < 0) return { color: '#b0b0b0', size: 0.8, zIndex: 0, type };
    const strength = Math.sqrt(Math.max(0, Math.min(1, this.style.strength(k))));
    if (this.linkedEdge !== null && this.style.visible[this.linkedEdge] === 1) {
      if (k !== this.linkedEdge) return { color: '#ececec', size: 0.6, zIndex: 0, type };
      return { color: this.style.color(k), size: 2 + 4 * strength, zIndex: 20, type: 'wide' };
    }
    const focus = this.focus();
    if (focus !== null && !this.touches(k, focus)) return { color: '#ececec', size: 0.6, zIndex: 0, type };
    const z = Math.round(strength * 10);
    return this.dense ? { color: fade(this.style.color(k), 0.15 + 0.85 * strength), size: 1, zIndex: z, type } : { color: this.style.color(k), size: 0.6 + 4.4 * strength, zIndex: z, type };
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
      const snd = g.senders[ix.sender[k]!]!;
      const r = g.receivers[ix.receiver[k]!]!;
      this.graph.addDirectedEdgeWithKey(String(k), snd.name, r.name, { k });
      n++;
      active.add(snd.name);
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

  /** Highlights a node (another panel's hover, a table row) or an edge; null clears. */
  highlight(node: string | null, edge: number | null = null): void {
    const n = node !== null && this.graph.hasNode(node) ? node : null;
    if (n === this.linked && edge === this.linkedEdge) return;
    this.linked = n;
    this.linkedEdge = edge;
    this.sigma.refresh({ skipIndexation: true, schedule: true });
  }

  /** The node keys whose labels sigma drew in the last frame. */
  drawnLabels(): string[] {
    return [...this.sigma.getNodeDisplayedLabels()];
  }

  /** Back to the whole drawing. */
  resetZoom(): void {
    void this.sigma.getCamera().animatedReset({ duration: 200 });
  }

  private drawLabel(ctx: CanvasRenderingContext2D, d: NodeDisplayData & NodeAttrs): void {
    const text = this.shortLabels && d.shortLabel !== null ? d.shortLabel : d.label;
    if (!text) return;
    ctx.font = `${d.highlighted ? '600' : '400'} ${LABEL_SIZE}px ${LABEL_FONT}`;
    const x = d.x + d.size + 3;
    const y = d.y + LABEL_SIZE / 3;
    // A white halo keeps labels readable over edges.
    ctx.lineWidth = 3;
    ctx.strokeStyle = 'rgba(255,255,255,0.92)';
    ctx.lineJoin = 'round';
    ctx.strokeText(text, x, y);
    ctx.fillStyle = d.color === NODE_COLORS.inactive ? '#767676' : '#111111';
    ctx.fillText(text, x, y);
  }

  private placeHeadings(): void {
    const p = this.params;
    const top = this.sigma.graphToViewport({ x: 0, y: 0.75 }).y;
    this.headings.style.top = `${Math.max(0, top - 14)}px`;
    this.headings.querySelectorAll<HTMLElement>('.layer-heading').forEach((el, L) => {
      const x = this.sigma.graphToViewport({ x: p.layerWidth * (L + 0.6), y: 0 }).x;
      el.style.left = `${x}px`;
    });
  }

  /** Arrow keys walk the drawn nodes (left/right: nearest in the next column; up/down: within the column). */
  private onKey(e: KeyboardEvent): void {
    if (e.key === 'Escape') {
      this.opts.onSelect?.(null);
      this.moveCursor(null);
      e.preventDefault();
      return;
    }
    if (e.key === 'Enter' || e.key === ' ') {
      if (this.hovered !== null) this.opts.onSelect?.(this.hovered === this.selected ? null : this.hovered);
      e.preventDefault();
      return;
    }
    const dir = ({ ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] } as Record<string, [number, number]>)[e.key];
    if (!dir) return;
    e.preventDefault();
    const nodes: { key: string; x: number; y: number }[] = [];
    this.graph.forEachNode((key, a) => {
      if (a.kind !== 'port' && (this.activeNodes.has(key) || this.showAll)) nodes.push({ key, x: a.x, y: a.y });
    });
    if (nodes.length === 0) return;
    const from = this.hovered ?? this.selected;
    const cur = from !== null ? nodes.find((n) => n.key === from) : undefined;
    if (!cur) {
      nodes.sort((a, b) => a.x - b.x || b.y - a.y);
      this.moveCursor(nodes[0]!.key);
      return;
    }
    const eps = 1e-6;
    let best: { key: string; cost: number } | undefined;
    for (const n of nodes) {
      if (n.key === cur.key) continue;
      const dx = n.x - cur.x;
      const dy = n.y - cur.y;
      const cost = dir[0] !== 0 ? (dir[0] * dx > eps ? Math.abs(dx) * 100 + Math.abs(dy) : Infinity) : Math.abs(dx) < 0.5 && dir[1] * dy > eps ? Math.abs(dy) : Infinity;
      if (cost < (best?.cost ?? Infinity)) best = { key: n.key, cost };
    }
    if (best) this.moveCursor(best.key);
  }

  /** The keyboard cursor: highlighted and described like a hovered node. */
  private moveCursor(node: string | null): void {
    this.hovered = node;
    if (node === null) this.hideTooltip();
    else {
      const p = this.nodePosition(node);
      if (p) this.showTooltip(this.opts.describeNode(node), p.x, p.y);
    }
    this.opts.onHover?.(node);
    this.sigma.refresh({ skipIndexation: true, schedule: true });
  }

  /** The drawing as a PNG: sigma's layers composited on white, with the layer headings. */
  toPng(): Promise<Blob> {
    const c = this.sigma.getContainer();
    const ratio = window.devicePixelRatio || 1;
    const out = document.createElement('canvas');
    out.width = Math.round(c.clientWidth * ratio);
    out.height = Math.round(c.clientHeight * ratio);
    const ctx = out.getContext('2d')!;
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, out.width, out.height);
    // Render now and copy in the same task: WebGL buffers are only readable until the next frame.
    this.sigma.refresh();
    for (const layer of Object.values(this.sigma.getCanvases())) ctx.drawImage(layer, 0, 0, out.width, out.height);
    ctx.scale(ratio, ratio);
    this.drawHeadings((text, x, y) => {
      ctx.font = `600 12px ${LABEL_FONT}`;
      ctx.fillStyle = '#333333';
      ctx.textAlign = 'center';
      ctx.fillText(text, x, y);
    });
    return new Promise((ok, fail) => out.toBlob((b) => (b ? ok(b) : fail(new Error('the browser could not encode the PNG'))), 'image/png'));
  }

  /** The drawing as SVG text: the drawn edges as lines, nodes as circles, labels and headings as text. */
  toSvg(): string {
    const c = this.sigma.getContainer();
    const W = c.clientWidth;
    const H = c.clientHeight;
    const svg = s('svg', { xmlns: 'http://www.w3.org/2000/svg', width: W, height: H, viewBox: `0 0 ${W} ${H}`, 'font-family': LABEL_FONT });
    svg.append(s('rect', { width: W, height: H, fill: '#ffffff' }));
    const edges = s('g', { class: 'edges', 'stroke-linecap': 'round' });
    const edgeList: { z: number; el: SVGLineElement }[] = [];
    this.graph.forEachEdge((e, a, src, tgt) => {
      const d = this.sigma.getEdgeDisplayData(e);
      const p = this.nodePosition(src);
      const q = this.nodePosition(tgt);
      if (!d || d.hidden || !p || !q) return;
      const el = s('line', {
        x1: p.x.toFixed(1),
        y1: p.y.toFixed(1),
        x2: q.x.toFixed(1),
        y2: q.y.toFixed(1),
        stroke: d.color,
        'stroke-width': d.size.toFixed(2),
        class: a.k >= 0 ? 'edge' : 'connector',
      });
      if (a.k >= 0) el.setAttribute('data-edge', String(a.k));
      edgeList.push({ z: d.zIndex ?? 0, el });
    });
    edgeList.sort((x, y) => x.z - y.z);
    for (const e of edgeList) edges.append(e.el);
    const nodes = s('g', { class: 'nodes' });
    const labels = s('g', { class: 'labels', 'font-size': LABEL_SIZE, fill: '#111111' });
    this.graph.forEachNode((n, a) => {
      const d = this.sigma.getNodeDisplayData(n);
      const p = this.nodePosition(n);
      if (!d || !p) return;
      const r = this.sigma.scaleSize(d.size);
      nodes.append(s('circle', { cx: p.x.toFixed(1), cy: p.y.toFixed(1), r: r.toFixed(2), fill: d.color, 'data-node': n }));
      const text = this.shortLabels && a.shortLabel !== null ? a.shortLabel : a.label;
      if (text) labels.append(s('text', { x: (p.x + r + 3).toFixed(1), y: (p.y + LABEL_SIZE / 3).toFixed(1), stroke: '#ffffff', 'stroke-width': 3, 'paint-order': 'stroke' }, text));
    });
    const headings = s('g', { class: 'headings', 'font-size': 12, 'font-weight': 600, fill: '#333333', 'text-anchor': 'middle' });
    this.drawHeadings((text, x, y) => headings.append(s('text', { x: x.toFixed(1), y: y.toFixed(1) }, text)));
    svg.append(edges, nodes, labels, headings);
    return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(svg)}\n`;
  }

  private drawHeadings(draw: (text: string, x: number, y: number) => void): void {
    const top = this.sigma.graphToViewport({ x: 0, y: 0.75 }).y;
    for (let L = 0; L < this.ix.graph.nLayers; L++) draw(`L${L}`, this.sigma.graphToViewport({ x: this.params.layerWidth * (L + 0.6), y: 0 }).x, Math.max(12, top - 2));
  }

  /** The node under the keyboard cursor or the pointer. */
  cursor(): string | null {
    return this.hovered;
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
    this.headings.remove();
  }
}
