// The compare tab: two circuits side by side with cameras moving together, the diff of their union
// graph (edges only in A, only in B, in both), Jaccard overlap and each side's faithfulness, and
// the matrix of pairwise overlaps of every circuit of a pipeline. Circuits of different shapes (two
// models) are matched by edge name and drawn in the frame of the larger shape.
import { jaccard, setJaccard } from '../../src/evaluation/measures.js';
import type { VizCircuitInfo } from '../../src/viz-export/format.js';
import { circuitEdgeStyle, cut, describeCircuitEdge, strength, faithfulnessAt, faithfulnessText, type Cut } from './cuts.js';
import type { LoadedCircuit, SiteData } from './data.js';
import { fill, h, option, select } from './dom.js';
import { edgeIndex, type EdgeIndex } from './edges.js';
import { saveBlob } from './downloads.js';
import { GraphView } from './graph-view.js';
import { DIFF_COLORS } from './palette.js';
import type { StateStore } from './state.js';
import { circuitLabel, circuitSettings, circuitShortLabel, fmt, fmtInt } from './text.js';
import { thresholdControl } from './threshold.js';
import type { View } from './view.js';

type Side = 'a' | 'b';

interface SidePanel {
  circuit: LoadedCircuit;
  cut: Cut;
  view: GraphView;
  stats: HTMLElement;
  /** Edge k of this circuit -> edge index in the union graph. */
  toUnion: Int32Array;
}

/** Edge k of `ix` -> the same-named edge of `union` (identity when the shapes agree). */
function unionMap(ix: EdgeIndex, union: EdgeIndex): Int32Array {
  const out = new Int32Array(ix.nEdges);
  const same = ix.graph.nLayers === union.graph.nLayers && ix.graph.nHeads === union.graph.nHeads;
  for (let k = 0; k < ix.nEdges; k++) {
    if (same) out[k] = k;
    else {
      const e = union.graph.parseEdge(`${ix.graph.senders[ix.sender[k]!]!.name}->${ix.graph.receivers[ix.receiver[k]!]!.name}`);
      out[k] = union.start[e.receiver]! + e.sender;
    }
  }
  return out;
}

function edgeNames(c: LoadedCircuit, mask: Uint8Array): Set<string> {
  const g = c.ix.graph;
  const out = new Set<string>();
  for (let k = 0; k < c.ix.nEdges; k++) if (mask[k] === 1) out.add(`${g.senders[c.ix.sender[k]!]!.name}->${g.receivers[c.ix.receiver[k]!]!.name}`);
  return out;
}

/** Why a comparison may mislead: the two circuits come from different models or graph shapes. */
export function compareWarning(a: VizCircuitInfo, b: VizCircuitInfo): string | null {
  const shapes = a.nLayers !== b.nLayers || a.nHeads !== b.nHeads;
  const models = a.modelFingerprint !== null && b.modelFingerprint !== null && a.modelFingerprint !== b.modelFingerprint;
  if (!shapes && !models) return null;
  const what = [
    models ? `different models (A: ${a.modelName ?? '?'}, B: ${b.modelName ?? '?'})` : null,
    shapes ? `different graphs (A: ${a.nLayers}×${a.nHeads}, B: ${b.nLayers}×${b.nHeads}; matched by edge name)` : null,
  ]
    .filter(Boolean)
    .join(' and ');
  return `Warning: these circuits come from ${what}; shared edge names need not mean shared mechanisms.`;
}

export class CompareView implements View {
  private generation = 0;
  private readonly sides = new Map<Side, SidePanel>();
  private diff: GraphView | undefined;
  private union: EdgeIndex | undefined;
  private readonly summary = h('div', { class: 'compare-summary', data: { testid: 'compare-stats' } });
  private readonly diffStats = h('div', { class: 'stats' });

  constructor(
    private readonly root: HTMLElement,
    private readonly data: SiteData,
    private readonly state: StateStore,
  ) {}

  async mount(): Promise<void> {
    const gen = this.generation;
    const circuits = this.data.index.circuits;
    if (circuits.length === 0) {
      fill(this.root, h('p', { class: 'empty' }, 'This database has no circuits to compare.'));
      return;
    }
    const st = this.state.get();
    const infoA = circuits.find((c) => c.id === st.a) ?? circuits[0]!;
    const infoB = circuits.find((c) => c.id === st.b) ?? circuits.find((c) => c.id !== infoA.id) ?? infoA;
    const pick = (side: Side, chosen: VizCircuitInfo): HTMLSelectElement =>
      select(
        circuits.map((c) => option(c.id, circuitLabel(c), c.id === chosen.id)),
        (v) => {
          this.state.update(side === 'a' ? { a: Number(v), ta: undefined } : { b: Number(v), tb: undefined }, true);
          this.remount();
        },
        { id: `compare-${side}`, title: circuitLabel(chosen), attrs: { 'aria-label': `circuit ${side.toUpperCase()}` } },
      );
    const panel = (side: Side): HTMLElement =>
      h(
        'div',
        { class: `panel side-${side}` },
        h(
          'div',
          { class: 'panel-head' },
          h('span', { class: `badge badge-${side}` }, side.toUpperCase()),
          h('span', { class: 'settings', data: { testid: `compare-${side}-settings` } }, circuitLabel(side === 'a' ? infoA : infoB)),
        ),
        h('div', { class: 'panel-head' }, h('span', { class: 'slot' }), h('span', { class: 'stats', data: { testid: `compare-${side}-stats` } })),
        h('div', { class: 'graph', id: `graph-${side}` }),
      );
    const panelA = panel('a');
    const panelB = panel('b');
    const diffBox = h('div', { class: 'graph', id: 'graph-diff' });
    const matrixBox = h('div', { class: 'matrix-box' });
    const diffLegend = h(
      'div',
      { class: 'legend' },
      ...(['a', 'b', 'both'] as const).map((k) => {
        const sw = h('span', { class: 'swatch line' });
        sw.style.background = DIFF_COLORS[k];
        return h('span', { class: 'legend-item' }, sw, k === 'both' ? 'in both' : `only in ${k.toUpperCase()}`);
      }),
    );
    const swap = h('button', { id: 'compare-swap', attrs: { type: 'button' }, title: 'swap A and B' }, 'swap A ⇄ B');
    swap.addEventListener('click', () => {
      const cur = this.state.get();
      this.state.update({ a: infoB.id, b: infoA.id, ta: cur.tb, tb: cur.ta }, true);
      this.remount();
    });
    const warning =
      infoA.id === infoB.id
        ? circuits.length === 1
          ? 'This database has one circuit: A and B are that circuit, to compare two of its thresholds (move either slider).'
          : 'A and B are the same circuit: pick another for B, or compare two thresholds of this one.'
        : compareWarning(infoA, infoB);
    fill(
      this.root,
      h('div', { class: 'toolbar' }, h('label', { class: 'picker' }, 'A ', pick('a', infoA)), h('label', { class: 'picker' }, 'B ', pick('b', infoB)), swap, this.tools()),
      warning ? h('p', { class: 'warning', attrs: { role: 'alert' }, data: { testid: 'compare-warning' } }, warning) : null,
      this.summary,
      h('div', { class: 'pair' }, panelA, panelB),
      h(
        'div',
        { class: 'pair' },
        h('div', { class: 'panel' }, h('div', { class: 'panel-head' }, h('strong', {}, 'Diff of the union graph'), diffLegend, this.diffStats), diffBox),
        h('div', { class: 'panel matrix-panel' }, matrixBox),
      ),
    );
    fill(this.summary, 'loading circuits…');
    const [a, b] = await Promise.all([this.data.circuit(infoA.id), this.data.circuit(infoB.id)]);
    if (gen !== this.generation) return;
    const frame = { nLayers: Math.max(a.info.nLayers, b.info.nLayers), nHeads: Math.max(a.info.nHeads, b.info.nHeads) };
    const union = edgeIndex(frame.nLayers, frame.nHeads);
    this.union = union;

    for (const [side, c, box] of [
      ['a', a, panelA],
      ['b', b, panelB],
    ] as const) {
      const tau = side === 'a' ? st.ta : st.tb;
      const graphBox = box.querySelector<HTMLElement>('.graph')!;
      const sideCut = cut(c, tau);
      const view = new GraphView(graphBox, {
        name: `compare-${side}`,
        ix: c.ix,
        frame,
        describeNode: (n) => [n],
        describeEdge: (k) => describeCircuitEdge(c, this.sides.get(side)?.cut.mask ?? c.mask, k),
        onHover: (n) => this.linkHover(`compare-${side}`, n),
      });
      const control = thresholdControl(
        `threshold-${side}`,
        c.magnitudes,
        c.info.size,
        (t) => {
          const p = this.sides.get(side);
          return p && p.cut.tau === t ? p.cut.edges : cut(c, t).edges;
        },
        (t) => {
          this.state.update(side === 'a' ? { ta: t } : { tb: t });
          this.recut(side, t);
        },
      );
      control.set(tau);
      box.querySelector('.slot')!.replaceWith(control.element);
      this.sides.set(side, { circuit: c, cut: sideCut, view, stats: box.querySelector<HTMLElement>('.stats')!, toUnion: unionMap(c.ix, union) });
    }
    this.diff = new GraphView(diffBox, {
      name: 'compare-diff',
      ix: union,
      frame,
      describeNode: (n) => [n],
      describeEdge: (k) => this.describeDiffEdge(k),
      onHover: (n) => this.linkHover('compare-diff', n),
    });
    const [va, vb] = [this.sides.get('a')!.view, this.sides.get('b')!.view];
    va.syncCameras([vb, this.diff]);
    this.refresh();
    void this.drawMatrix(matrixBox, a.info, gen);
  }

  /** Reset zoom (the cameras move together) and downloads of the three drawings. */
  private tools(): HTMLElement {
    const button = (id: string, text: string, title: string, run: () => void | Promise<void>): HTMLButtonElement => {
      const b = h('button', { id, attrs: { type: 'button' }, title }, text);
      b.addEventListener('click', () => void run());
      return b;
    };
    const views = (): [string, GraphView | undefined][] => [
      ['A', this.sides.get('a')?.view],
      ['B', this.sides.get('b')?.view],
      ['diff', this.diff],
    ];
    const name = (which: string, ext: string): string => {
      const a = this.sides.get('a')?.circuit.info.id;
      const b = this.sides.get('b')?.circuit.info.id;
      return `compare-${a}-${b}-${which}.${ext}`;
    };
    return h(
      'div',
      { class: 'tools' },
      button('reset-zoom', 'reset zoom', 'show the whole graphs again', () => this.sides.get('a')?.view.resetZoom()),
      h('span', { class: 'hint' }, 'download A, B, diff:'),
      button('download-png', 'PNG', 'the three drawings as PNG images', async () => {
        for (const [which, v] of views()) if (v) saveBlob(name(which, 'png'), await v.toPng());
      }),
      button('download-svg', 'SVG', 'the three drawings as SVG', () => {
        for (const [which, v] of views()) if (v) saveBlob(name(which, 'svg'), new Blob([v.toSvg()], { type: 'image/svg+xml' }));
      }),
    );
  }

  /** Hovering a node in one canvas highlights it in the other two. */
  private linkHover(from: string, node: string | null): void {
    const views = [this.sides.get('a')?.view, this.sides.get('b')?.view, this.diff];
    for (const v of views) if (v && v.name !== from) v.highlight(node);
  }

  private recut(side: Side, tau: number | undefined): void {
    const p = this.sides.get(side);
    if (!p) return;
    p.cut = cut(p.circuit, tau);
    this.refresh();
  }

  /** Union-graph masks of A and B at their current cuts. */
  private unionMasks(): { a: Uint8Array; b: Uint8Array } {
    const n = this.union!.nEdges;
    const out = { a: new Uint8Array(n), b: new Uint8Array(n) };
    for (const side of ['a', 'b'] as const) {
      const p = this.sides.get(side)!;
      for (let k = 0; k < p.circuit.ix.nEdges; k++) if (p.cut.mask[k] === 1) out[side][p.toUnion[k]!] = 1;
    }
    return out;
  }

  private refresh(): void {
    const a = this.sides.get('a');
    const b = this.sides.get('b');
    if (!a || !b || !this.diff || !this.union) return;
    for (const p of [a, b]) {
      p.view.setEdges(circuitEdgeStyle(p.circuit, p.cut.mask));
      p.stats.dataset.nodes = String(p.cut.nodes.length);
      p.stats.dataset.edges = String(p.cut.edges);
      fill(p.stats, `${fmtInt(p.cut.nodes.length)} nodes · ${fmtInt(p.cut.edges)} edges · ${faithfulnessText(faithfulnessAt(this.data.index, p.circuit, p.cut.edges, p.cut.tau), p.cut.edges)}`);
    }
    const m = this.unionMasks();
    const visible = new Uint8Array(this.union.nEdges);
    let both = 0;
    let onlyA = 0;
    let onlyB = 0;
    for (let k = 0; k < visible.length; k++) {
      const x = m.a[k] === 1;
      const y = m.b[k] === 1;
      if (x || y) visible[k] = 1;
      if (x && y) both++;
      else if (x) onlyA++;
      else if (y) onlyB++;
    }
    // Strength: the larger normalised |score| of the two sides.
    const width = new Float32Array(this.union.nEdges);
    for (const p of [a, b]) {
      for (let k = 0; k < p.circuit.ix.nEdges; k++) {
        const u = p.toUnion[k]!;
        if (visible[u] === 1) width[u] = Math.max(width[u]!, strength(p.circuit.scores[k]!, p.circuit.maxAbs));
      }
    }
    this.diff.setEdges({
      visible,
      color: (k) => (m.a[k] === 1 && m.b[k] === 1 ? DIFF_COLORS.both : m.a[k] === 1 ? DIFF_COLORS.a : DIFF_COLORS.b),
      strength: (k) => width[k]!,
    });
    const jEdges = jaccard(both, both + onlyA, both + onlyB);
    const jNodes = setJaccard(new Set(a.cut.nodes), new Set(b.cut.nodes));
    Object.assign(this.summary.dataset, { jaccard: String(jEdges), onlyA: String(onlyA), onlyB: String(onlyB), both: String(both) });
    fill(
      this.summary,
      h('span', { class: 'big' }, `Jaccard ${fmt(jEdges)}`),
      ` over edges (${fmtInt(both)} shared of ${fmtInt(both + onlyA + onlyB)}), ${fmt(jNodes)} over nodes · `,
      h('span', { class: 'badge badge-a' }, 'A'),
      ` ${circuitSettings(a.circuit.info)}: ${fmtInt(a.cut.edges)} edges${a.cut.tau !== undefined ? ` at |score| ≥ ${fmt(a.cut.tau)}` : ''}, ${faithfulnessText(faithfulnessAt(this.data.index, a.circuit, a.cut.edges, a.cut.tau), a.cut.edges)} · `,
      h('span', { class: 'badge badge-b' }, 'B'),
      ` ${circuitSettings(b.circuit.info)}: ${fmtInt(b.cut.edges)} edges${b.cut.tau !== undefined ? ` at |score| ≥ ${fmt(b.cut.tau)}` : ''}, ${faithfulnessText(faithfulnessAt(this.data.index, b.circuit, b.cut.edges, b.cut.tau), b.cut.edges)}`,
    );
    fill(this.diffStats, `${fmtInt(onlyA)} only A · ${fmtInt(onlyB)} only B · ${fmtInt(both)} both`);
  }

  private describeDiffEdge(k: number): string[] {
    const u = this.union!;
    const name = `${u.graph.senders[u.sender[k]!]!.name}->${u.graph.receivers[u.receiver[k]!]!.name}`;
    const lines = [name];
    for (const side of ['a', 'b'] as const) {
      const p = this.sides.get(side)!;
      const own = p.toUnion.indexOf(k);
      lines.push(own < 0 ? `${side.toUpperCase()}: not in this graph` : `${side.toUpperCase()}: score ${fmt(p.circuit.scores[own]!, 4)}${p.cut.mask[own] === 1 ? ', in circuit' : ''}`);
    }
    return lines;
  }

  /** Pairwise Jaccard of the stored circuits of A's pipeline; a click compares that pair. */
  private async drawMatrix(box: HTMLElement, a: VizCircuitInfo, gen: number): Promise<void> {
    const members = this.data.index.circuits.filter((c) => c.pipeline === a.pipeline);
    fill(box, h('h4', {}, `Pairwise overlap, pipeline ${a.pipeline}`), h('p', { class: 'hint' }, `loading ${members.length} circuits…`));
    const loaded = await Promise.all(members.map((c) => this.data.circuit(c.id)));
    if (gen !== this.generation) return;
    const sets = loaded.map((c) => edgeNames(c, c.mask));
    const table = h('table', { class: 'matrix', data: { testid: 'overlap-matrix' } });
    // The model joins the headers when the pipeline's circuits come from more than one.
    const manyModels = new Set(members.map((c) => c.modelFingerprint)).size > 1;
    const head = (c: VizCircuitInfo): string => `${circuitShortLabel(c)}${manyModels ? ` · ${c.modelName ?? 'model ?'}` : ''}`;
    table.append(h('tr', {}, h('th', {}), ...members.map((c) => h('th', { title: circuitLabel(c) }, head(c)))));
    members.forEach((ci, i) => {
      const row = h('tr', {}, h('th', { title: circuitLabel(ci) }, head(ci)));
      members.forEach((cj, j) => {
        const v = setJaccard(sets[i]!, sets[j]!);
        const td = h('td', { class: 'num', title: `${circuitLabel(ci)} vs ${circuitLabel(cj)}: Jaccard ${fmt(v)}` }, fmt(v, 2));
        const shade = Math.round(255 - 175 * v);
        td.style.background = `rgb(${shade},${shade},255)`;
        if (v > 0.6) td.style.color = '#fff';
        td.addEventListener('click', () => {
          this.state.update({ a: ci.id, b: cj.id, ta: undefined, tb: undefined }, true);
          this.remount();
        });
        row.append(td);
      });
      table.append(row);
    });
    fill(box, h('h4', {}, `Pairwise edge overlap (Jaccard) of the stored circuits of pipeline ${a.pipeline}`), table, h('p', { class: 'hint' }, 'Click a cell to compare that pair.'));
  }

  private remount(): void {
    this.dispose();
    void this.mount();
  }

  dispose(): void {
    this.generation++;
    for (const p of this.sides.values()) p.view.kill();
    this.sides.clear();
    this.diff?.kill();
    this.diff = undefined;
  }
}
