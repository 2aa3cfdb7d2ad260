// The circuit tab: one circuit in the layered layout, a threshold slider that re-cuts it live from
// the stored edge scores, its size and faithfulness at that size, and details of a clicked node
// (its strongest edges and its patching effects under every stored run of the model).
import { lineChart } from './charts.js';
import { circuitCurves, circuitEdgeStyle, cut, describeCircuitEdge, edgeName, faithfulnessAt, faithfulnessText, nodeEdges, type Cut } from './cuts.js';
import type { VizTokenPush, VizWrites } from '../../src/viz-export/format.js';
import type { LoadedCircuit, SiteData } from './data.js';
import { fill, h, option, select } from './dom.js';
import { nodeEffects } from './effects.js';
import { CircuitTable } from './circuit-table.js';
import { circuitEapJson, fileName, saveBlob } from './downloads.js';
import { DENSE_EDGES, GraphView } from './graph-view.js';
import { NEGATIVE, NODE_COLORS, POSITIVE, series } from './palette.js';
import type { StateStore } from './state.js';
import { circuitLabel, circuitMeta, curveLabel, fmt, fmtInt, runLabel } from './text.js';
import { thresholdControl } from './threshold.js';
import type { View } from './view.js';

/** Colours of edges and nodes, and what an edge's width says (|score| relative to the largest). */
export function legend(maxAbs?: number): HTMLElement {
  const item = (color: string, text: string, line = false): HTMLElement => {
    const sw = h('span', { class: line ? 'swatch line' : 'swatch dot' });
    sw.style.background = color;
    return h('span', { class: 'legend-item' }, sw, text);
  };
  const widths =
    maxAbs === undefined
      ? null
      : h(
          'div',
          { class: 'legend width-legend', data: { testid: 'width-legend' } },
          h('span', { class: 'legend-title' }, 'width = |score|:'),
          ...[1, 1 / 4, 1 / 16].map((f) => {
            const sw = h('span', { class: 'swatch line' });
            sw.style.background = '#555';
            sw.style.height = `${(0.6 + 4.4 * Math.sqrt(f)).toFixed(1)}px`;
            return h('span', { class: 'legend-item' }, sw, fmt(maxAbs * f));
          }),
          h('span', { class: 'hint' }, `(above ${fmtInt(DENSE_EDGES)} edges: paler = smaller)`),
        );
  return h(
    'div',
    { class: 'legends' },
    h(
      'div',
      { class: 'legend', data: { testid: 'color-legend' } },
      item(POSITIVE, 'positive score', true),
      item(NEGATIVE, 'negative score', true),
      item(NODE_COLORS.head, 'head'),
      item(NODE_COLORS.mlp, 'MLP'),
      item(NODE_COLORS.q, 'query input'),
      item(NODE_COLORS.k, 'key input'),
      item(NODE_COLORS.v, 'value input'),
    ),
    widths,
  );
}

export class CircuitView implements View {
  private graph: GraphView | undefined;
  private circuit: LoadedCircuit | undefined;
  private current: Cut | undefined;
  private table: CircuitTable | undefined;
  /** What the model's nodes write (a note when the site could not compute it). */
  private writes: VizWrites | string | undefined;
  private readonly stats = h('span', { class: 'stats', data: { testid: 'circuit-stats' } });
  private readonly details = h('div', { class: 'details' });
  private readonly curveBox = h('div', { class: 'curve-box' });
  /** Bumped by dispose: async work of an older mount checks it and stops. */
  private generation = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly data: SiteData,
    private readonly state: StateStore,
  ) {}

  async mount(): Promise<void> {
    const gen = this.generation;
    const circuits = this.data.index.circuits;
    if (circuits.length === 0) {
      fill(this.root, h('p', { class: 'empty' }, 'This database has no circuits. The Patching tab shows its node-level results.'));
      return;
    }
    const st = this.state.get();
    const info = circuits.find((c) => c.id === st.c) ?? circuits[0]!;
    const picker = select(
      circuits.map((c) => option(c.id, circuitLabel(c), c.id === info.id)),
      (v) => {
        this.state.update({ c: Number(v), t: undefined, node: undefined }, true);
        this.remount();
      },
      { id: 'circuit-select', attrs: { 'aria-label': 'circuit' } },
    );
    picker.title = circuitLabel(info);
    const graphBox = h('div', { class: 'graph', id: 'circuit-graph' });
    const showAll = h('input', { id: 'show-all', attrs: { type: 'checkbox', checked: st.all === true } });
    const button = (id: string, text: string, title: string, run: () => void): HTMLButtonElement => {
      const b = h('button', { id, attrs: { type: 'button' }, title }, text);
      b.addEventListener('click', run);
      return b;
    };
    const tools = h(
      'div',
      { class: 'tools' },
      button('reset-zoom', 'reset zoom', 'show the whole graph again', () => this.graph?.resetZoom()),
      h('span', { class: 'hint' }, 'download:'),
      button('download-png', 'PNG', 'the graph as drawn, as a PNG image', () => void this.download('png')),
      button('download-svg', 'SVG', 'the graph as drawn, as an SVG drawing', () => void this.download('svg')),
      button('download-json', 'JSON', 'the circuit at this cut as EAP-IG graph JSON (patchwise circuit import reads it)', () => void this.download('json')),
    );
    const toolbar = h('div', { class: 'toolbar' }, h('label', { class: 'picker' }, 'circuit ', picker), h('span', { class: 'slot' }), h('label', {}, showAll, ' all components'), this.stats, tools);
    const meta = h('dl', { class: 'meta' });
    this.table = new CircuitTable({
      highlight: (node, edge) => this.graph?.highlight(node, edge),
      select: (node) => this.choose(node),
    });
    fill(
      this.root,
      toolbar,
      h(
        'div',
        { class: 'main' },
        graphBox,
        h('aside', { class: 'side' }, h('h3', {}, 'Selection'), this.details, this.table.element, h('h3', {}, 'Circuit'), meta, h('div', { class: 'legend-slot' }), this.curveBox),
      ),
    );
    fill(this.stats, `loading circuit ${info.id} (${fmtInt(Math.round(info.bytes / 1024))} KiB)…`);
    const [c, writes] = await Promise.all([this.data.circuit(info.id), this.data.writes(info.modelFingerprint).catch(() => undefined)]);
    if (gen !== this.generation) return;
    this.circuit = c;
    this.writes = writes;
    fill(meta, ...circuitMeta(c.info).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    this.root.querySelector('.legend-slot')!.replaceWith(legend(c.maxAbs));

    const control = thresholdControl(
      'threshold',
      c.magnitudes,
      c.info.size,
      (tau) => (tau === this.current?.tau && this.current ? this.current.edges : cut(c, tau).edges),
      (tau) => {
        this.state.update({ t: tau });
        this.apply(tau);
      },
    );
    toolbar.querySelector('.slot')!.replaceWith(control.element);

    this.graph = new GraphView(graphBox, {
      name: 'circuit',
      ix: c.ix,
      describeNode: (n) => this.describeNode(n),
      describeEdge: (k) => describeCircuitEdge(c, this.current?.mask ?? c.mask, k),
      onSelect: (n) => this.choose(n),
      onHover: (n) => this.table?.mark(n),
    });
    this.graph.setShowAll(st.all === true);
    showAll.addEventListener('change', () => {
      this.state.update({ all: showAll.checked || undefined });
      this.graph?.setShowAll(showAll.checked);
    });
    this.select(st.node ?? null);
    this.apply(st.t);
    control.set(st.t);
  }

  private remount(): void {
    this.dispose();
    void this.mount();
  }

  /** Selects a node (null clears), recording it in the URL. */
  private choose(node: string | null): void {
    this.state.update({ node: node ?? undefined });
    this.select(node);
  }

  private apply(tau: number | undefined): void {
    const c = this.circuit;
    if (!c || !this.graph) return;
    this.current = cut(c, tau);
    const f = faithfulnessAt(this.data.index, c, this.current.edges, tau);
    const nodes = this.current.nodes.length;
    this.stats.dataset.nodes = String(nodes);
    this.stats.dataset.edges = String(this.current.edges);
    // Text first, canvas second: the text can change the toolbar's height and so the canvas's size.
    fill(this.stats, `${fmtInt(nodes)} nodes · ${fmtInt(this.current.edges)} edges · ${faithfulnessText(f, this.current.edges)}`);
    this.graph.setEdges(circuitEdgeStyle(c, this.current.mask));
    this.table?.setCut(c, this.current.mask);
    this.drawCurves();
    const sel = this.state.get().node;
    if (sel) void this.renderDetails(sel);
  }

  private async download(kind: 'png' | 'svg' | 'json'): Promise<void> {
    const c = this.circuit;
    const g = this.graph;
    if (!c || !g || !this.current) return;
    if (kind === 'png') saveBlob(fileName(c, '.png'), await g.toPng());
    else if (kind === 'svg') saveBlob(fileName(c, '.svg'), new Blob([g.toSvg()], { type: 'image/svg+xml' }));
    else saveBlob(fileName(c, '.json'), new Blob([await circuitEapJson(c, this.current.mask, this.current.tau)], { type: 'application/json' }));
  }

  private drawCurves(): void {
    const c = this.circuit;
    if (!c || !this.current) return;
    const curves = circuitCurves(this.data.index, c.info, 'faithfulness');
    if (curves.length === 0) {
      fill(this.curveBox);
      return;
    }
    const chart = lineChart({
      width: 300,
      height: 190,
      xLabel: 'edges in circuit',
      yLabel: 'faithfulness',
      logX: true,
      series: curves.map((cv, i) => ({
        label: curveLabel(this.data.index, cv),
        color: series(i),
        points: cv.size.flatMap((sz, j) => (sz !== null && cv.faithfulness[j] !== null && cv.faithfulness[j] !== undefined ? [[sz, cv.faithfulness[j]!] as const] : [])),
      })),
      marker: this.current.edges > 0 ? { x: this.current.edges, label: `current cut: ${this.current.edges} edges` } : undefined,
    });
    fill(this.curveBox, h('h4', {}, 'Faithfulness against size'), chart);
  }

  private describeNode(name: string): string[] {
    const c = this.circuit;
    if (!c || !this.current) return [name];
    const owner = /^(a\d+\.h\d+)<[qkv]>$/.exec(name);
    const node = owner ? owner[1]! : name;
    const { incoming, outgoing } = nodeEdges(c, this.current.mask, node);
    const lines = [name, `${incoming.length} edges in, ${outgoing.length} out (in the circuit)`];
    if (owner) lines.push(`the ${name.slice(-2, -1) === 'q' ? 'query' : name.slice(-2, -1) === 'k' ? 'key' : 'value'} input of ${node}`);
    const w = typeof this.writes === 'object' ? this.writes.nodes[node] : undefined;
    if (w && !owner) {
      lines.push(
        `promotes ${w.promoted
          .slice(0, 3)
          .map((t) => JSON.stringify(t.token))
          .join(', ')}`,
      );
      lines.push(
        `suppresses ${w.suppressed
          .slice(0, 3)
          .map((t) => JSON.stringify(t.token))
          .join(', ')}`,
      );
    }
    lines.push('click (or Enter) for scores and patching effects');
    return lines;
  }

  private select(node: string | null): void {
    this.graph?.select(node);
    if (node === null) {
      fill(
        this.details,
        h(
          'p',
          { class: 'hint' },
          'Hover a node or an edge for its name and score; click a node (or focus the graph and use the arrow keys and Enter) for its edges and its patching effects. Click it again, the empty canvas, or press Escape to clear.',
        ),
      );
      return;
    }
    void this.renderDetails(node);
  }

  private async renderDetails(node: string): Promise<void> {
    const c = this.circuit;
    if (!c || !this.current) return;
    const mask = this.current.mask;
    const { incoming, outgoing } = nodeEdges(c, mask, node);
    const edgeList = (title: string, ks: number[]): HTMLElement =>
      h(
        'div',
        {},
        h('h4', {}, `${title} (${ks.length})`),
        ks.length === 0
          ? h('p', { class: 'hint' }, 'none')
          : h('table', { class: 'edges' }, ...ks.slice(0, 10).map((k) => h('tr', {}, h('td', {}, edgeName(c, k)), h('td', { class: 'num' }, fmt(c.scores[k]!, 4))))),
        ks.length > 10 ? h('p', { class: 'hint' }, `and ${ks.length - 10} more`) : null,
      );
    const gen = this.generation;
    const effectsBox = h('div', {}, h('p', { class: 'hint' }, 'loading patching effects…'));
    const clear = h('button', { id: 'clear-selection', attrs: { type: 'button' }, title: 'clear the selection (Escape)' }, 'clear');
    clear.addEventListener('click', () => this.choose(null));
    const drawn = this.current.nodes.includes(node);
    fill(
      this.details,
      h('div', { class: 'selection-head' }, h('h4', { class: 'node-name' }, node), clear),
      drawn ? null : h('p', { class: 'hint' }, 'not in the circuit at this threshold'),
      edgeList('incoming edges', incoming),
      edgeList('outgoing edges', outgoing),
      this.writesBox(node),
      h('h4', {}, 'Patching effects'),
      effectsBox,
    );
    const rows = await nodeEffects(this.data, c.info.modelFingerprint, node);
    if (gen !== this.generation || !effectsBox.isConnected) return;
    if (rows.length === 0) {
      fill(effectsBox, h('p', { class: 'hint' }, 'no node-level patching results for this component'));
      return;
    }
    fill(
      effectsBox,
      h(
        'table',
        { class: 'effects' },
        h('tr', {}, h('th', {}, 'run'), h('th', {}, 'component'), h('th', { class: 'num' }, 'mean'), h('th', { class: 'num' }, 'sd')),
        ...rows.map((r) =>
          h(
            'tr',
            { class: r.detected ? 'detected' : '' },
            h('td', {}, runLabel(r.run)),
            h('td', {}, r.positions > 1 ? `${r.component} (max |effect| of ${r.positions} positions)` : r.component),
            h('td', { class: 'num' }, fmt(r.mean)),
            h('td', { class: 'num' }, fmt(r.std)),
          ),
        ),
      ),
      h('p', { class: 'hint' }, 'Bold rows: detected (more than k SD from the mean effect).'),
    );
  }

  /** The tokens a node's mean output promotes and suppresses through the unembedding. */
  private writesBox(node: string): HTMLElement | null {
    const w = this.writes;
    if (node === 'logits') return null;
    if (w === undefined) return null;
    if (typeof w === 'string') return h('div', {}, h('h4', {}, 'What it writes'), h('p', { class: 'hint' }, `not available: ${w}`));
    const n = w.nodes[node];
    if (!n) return null;
    const col = (title: string, ts: readonly VizTokenPush[]): HTMLElement =>
      h(
        'table',
        { class: 'writes' },
        h('tr', {}, h('th', {}, title), h('th', { class: 'num' }, 'logit')),
        ...ts.map((t) => h('tr', {}, h('td', { class: 'mono' }, JSON.stringify(t.token)), h('td', { class: 'num' }, fmt(t.logit)))),
      );
    return h(
      'div',
      { data: { testid: 'node-writes' } },
      h('h4', {}, 'What it writes'),
      h('div', { class: 'writes-pair' }, col('promotes', n.promoted), col('suppresses', n.suppressed)),
      h('p', { class: 'hint' }, `Its mean output over ${w.nPrompts} prompts of run ${w.runId} (at the metric position), through the final norm's gain and the unembedding.`),
    );
  }

  dispose(): void {
    this.generation++;
    this.graph?.kill();
    this.graph = undefined;
  }
}
