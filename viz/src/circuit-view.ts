// The circuit tab: one circuit in the layered layout, a threshold slider that re-cuts it live from
// the stored edge scores, its size and faithfulness at that size, and details of a clicked node
// (its strongest edges and its patching effects under every stored run of the model).
import { lineChart } from './charts.js';
import { circuitCurves, circuitEdgeStyle, cut, describeCircuitEdge, edgeName, faithfulnessAt, faithfulnessText, nodeEdges, type Cut } from './cuts.js';
import type { LoadedCircuit, SiteData } from './data.js';
import { fill, h, option, select } from './dom.js';
import { nodeEffects } from './effects.js';
import { GraphView } from './graph-view.js';
import { NEGATIVE, NODE_COLORS, POSITIVE, series } from './palette.js';
import type { StateStore } from './state.js';
import { circuitLabel, fmt, fmtInt, runLabel } from './text.js';
import { thresholdControl } from './threshold.js';
import type { View } from './view.js';

export function legend(): HTMLElement {
  const item = (color: string, text: string, line = false): HTMLElement => {
    const sw = h('span', { class: line ? 'swatch line' : 'swatch dot' });
    sw.style.background = color;
    return h('span', { class: 'legend-item' }, sw, text);
  };
  return h(
    'div',
    { class: 'legend' },
    item(POSITIVE, 'positive score', true),
    item(NEGATIVE, 'negative score', true),
    item(NODE_COLORS.head, 'head'),
    item(NODE_COLORS.mlp, 'MLP'),
    item(NODE_COLORS.q, 'query input'),
    item(NODE_COLORS.k, 'key input'),
    item(NODE_COLORS.v, 'value input'),
  );
}

export class CircuitView implements View {
  private graph: GraphView | undefined;
  private circuit: LoadedCircuit | undefined;
  private current: Cut | undefined;
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
    const graphBox = h('div', { class: 'graph', id: 'circuit-graph' });
    const showAll = h('input', { id: 'show-all', attrs: { type: 'checkbox', checked: st.all === true } });
    const toolbar = h('div', { class: 'toolbar' }, h('label', {}, 'circuit ', picker), h('span', { class: 'slot' }), h('label', {}, showAll, ' all components'), this.stats);
    const meta = h('dl', { class: 'meta' });
    fill(
      this.root,
      toolbar,
      h('div', { class: 'main' }, graphBox, h('aside', { class: 'side' }, h('h3', {}, 'Circuit'), meta, legend(), this.curveBox, h('h3', {}, 'Selection'), this.details)),
    );
    fill(this.stats, `loading circuit ${info.id} (${fmtInt(Math.round(info.bytes / 1024))} KiB)…`);
    const c = await this.data.circuit(info.id);
    if (gen !== this.generation) return;
    this.circuit = c;
    const metaRows: [string, string][] = [
      ['pipeline', c.info.pipeline],
      ['key', c.info.key],
      ['method', c.info.method],
      ['metric', c.info.metric ?? '-'],
      ['corruption', c.info.corruption ?? '-'],
      ['direction', c.info.direction ?? '-'],
      ['model', c.info.modelName ?? '-'],
      ['graph', `${c.info.nLayers} layers × ${c.info.nHeads} heads, ${fmtInt(c.info.nEdges)} edges (${fmtInt(c.info.nScored)} scored)`],
      ['stored', `${fmtInt(c.info.size)} edges${c.info.threshold !== null ? ` at |score| ≥ ${fmt(c.info.threshold)}` : ''}${c.info.faithfulness !== null ? `, faithfulness ${fmt(c.info.faithfulness)}` : ''}`],
    ];
    fill(meta, ...metaRows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));

    const control = thresholdControl('threshold', c.magnitudes, c.info.size, (tau) => {
      this.state.update({ t: tau });
      this.apply(tau);
    });
    toolbar.querySelector('.slot')!.replaceWith(control.element);
    control.set(st.t);

    this.graph = new GraphView(graphBox, {
      name: 'circuit',
      ix: c.ix,
      describeNode: (n) => this.describeNode(n),
      describeEdge: (k) => describeCircuitEdge(c, this.current?.mask ?? c.mask, k),
      onNodeClick: (n) => {
        this.state.update({ node: n });
        this.select(n);
      },
    });
    this.graph.setShowAll(st.all === true);
    showAll.addEventListener('change', () => {
      this.state.update({ all: showAll.checked || undefined });
      this.graph?.setShowAll(showAll.checked);
    });
    this.select(st.node ?? null);
    this.apply(st.t);
  }

  private remount(): void {
    this.dispose();
    void this.mount();
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
    fill(this.stats, `${fmtInt(nodes)} nodes · ${fmtInt(this.current.edges)} edges · ${faithfulnessText(f)}`);
    this.graph.setEdges(circuitEdgeStyle(c, this.current.mask));
    this.drawCurves();
    const sel = this.state.get().node;
    if (sel) void this.renderDetails(sel);
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
        label: cv.key,
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
    lines.push('click for scores and patching effects');
    return lines;
  }

  private select(node: string | null): void {
    this.graph?.select(node);
    if (node === null) {
      fill(this.details, h('p', { class: 'hint' }, 'Hover a node or an edge for its name and score; click a node for its edges and its patching effects.'));
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
    fill(this.details, h('h4', { class: 'node-name' }, node), edgeList('incoming edges', incoming), edgeList('outgoing edges', outgoing), h('h4', {}, 'Patching effects'), effectsBox);
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

  dispose(): void {
    this.generation++;
    this.graph?.kill();
    this.graph = undefined;
  }
}
