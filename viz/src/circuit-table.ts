// The ranked lists beside the graph: the circuit's edges and nodes at the current cut, sortable by
// column, filtered by a search box (node or edge name), and linked to the graph both ways (hovering
// a row highlights its edge or node; hovering a node marks its rows).
import type { LoadedCircuit } from './data.js';
import { edgeName } from './cuts.js';
import { h } from './dom.js';
import { fmt, fmtInt } from './text.js';

/** Rows drawn at most per table; the count says how many more match. */
const MAX_ROWS = 150;

type EdgeSort = 'abs' | 'score' | 'name';
type NodeSort = 'abs' | 'in' | 'out' | 'name';

interface NodeRow {
  readonly name: string;
  nIn: number;
  nOut: number;
  /** Sum of |score| over the node's drawn edges. */
  total: number;
}

export interface TableLinks {
  /** Highlight an edge (k) or a node in the graph; both null clears. */
  readonly highlight: (node: string | null, edge: number | null) => void;
  readonly select: (node: string) => void;
}

/** The node an edge leaves and the node it enters (q/k/v ports folded into their head). */
function endpoints(c: LoadedCircuit, k: number): [string, string] {
  const g = c.ix.graph;
  const r = g.receivers[c.ix.receiver[k]!]!;
  return [g.senders[c.ix.sender[k]!]!.name, r.kind === 'head-input' ? `a${r.layer}.h${r.head}` : r.name];
}

export class CircuitTable {
  readonly element: HTMLElement;
  private readonly search: HTMLInputElement;
  private readonly edgeBody = h('tbody');
  private readonly nodeBody = h('tbody');
  private readonly edgeCount = h('p', { class: 'hint table-count', data: { testid: 'edge-count' } });
  private readonly nodeCount = h('p', { class: 'hint table-count', data: { testid: 'node-count' } });
  private edgeSort: EdgeSort = 'abs';
  private nodeSort: NodeSort = 'abs';
  private edges: number[] = [];
  private nodes: NodeRow[] = [];
  private circuit: LoadedCircuit | undefined;
  private mask: Uint8Array = new Uint8Array(0);
  private marked: string | null = null;

  constructor(private readonly links: TableLinks) {
    this.search = h('input', { id: 'search', class: 'search', attrs: { type: 'search', placeholder: 'search node or edge (e.g. a1.h7, m0->logits)', 'aria-label': 'search nodes and edges' } });
    this.search.addEventListener('input', () => this.render());
    // Enter on an exact node name selects it.
    this.search.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter') return;
      const q = this.search.value.trim();
      const hit = this.nodes.find((n) => n.name === q) ?? (this.nodes.length > 0 && this.filteredNodes().length === 1 ? this.filteredNodes()[0] : undefined);
      if (hit) this.links.select(hit.name);
    });
    const sortHead = <S extends string>(label: string, key: S, current: () => S, set: (s: S) => void, num: boolean): HTMLElement => {
      const b = h('button', { class: 'sort', attrs: { type: 'button' }, data: { sort: key } }, label);
      b.addEventListener('click', () => {
        set(key);
        this.render();
      });
      const th = h('th', { class: num ? 'num' : '' }, b);
      const refresh = (): void => th.setAttribute('aria-sort', current() === key ? (key === 'name' ? 'ascending' : 'descending') : 'none');
      this.refreshers.push(refresh);
      return th;
    };
    const edgeTable = h(
      'table',
      { class: 'ranked edges-table', data: { testid: 'edge-table' } },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { class: 'num' }, '#'),
          sortHead(
            'edge',
            'name',
            () => this.edgeSort,
            (s) => (this.edgeSort = s),
            false,
          ),
          sortHead(
            'score',
            'score',
            () => this.edgeSort,
            (s) => (this.edgeSort = s),
            true,
          ),
          sortHead(
            '|score|',
            'abs',
            () => this.edgeSort,
            (s) => (this.edgeSort = s),
            true,
          ),
        ),
      ),
      this.edgeBody,
    );
    const nodeTable = h(
      'table',
      { class: 'ranked nodes-table', data: { testid: 'node-table' } },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          sortHead(
            'node',
            'name',
            () => this.nodeSort,
            (s) => (this.nodeSort = s),
            false,
          ),
          sortHead(
            'in',
            'in',
            () => this.nodeSort,
            (s) => (this.nodeSort = s),
            true,
          ),
          sortHead(
            'out',
            'out',
            () => this.nodeSort,
            (s) => (this.nodeSort = s),
            true,
          ),
          sortHead(
            'Σ|score|',
            'abs',
            () => this.nodeSort,
            (s) => (this.nodeSort = s),
            true,
          ),
        ),
      ),
      this.nodeBody,
    );
    this.element = h(
      'div',
      { class: 'circuit-table' },
      this.search,
      h('h4', {}, 'Edges, ranked'),
      this.edgeCount,
      h('div', { class: 'table-scroll' }, edgeTable),
      h('h4', {}, 'Nodes'),
      this.nodeCount,
      h('div', { class: 'table-scroll' }, nodeTable),
    );
  }

  private readonly refreshers: (() => void)[] = [];

  /** New cut: the drawn edges of `mask`. */
  setCut(c: LoadedCircuit, mask: Uint8Array): void {
    this.circuit = c;
    this.mask = mask;
    this.edges = [];
    // Per node by index (senders, then logits): no strings per edge, so 32k-edge cuts stay cheap.
    const g = c.ix.graph;
    const S = g.nSenders;
    const nIn = new Int32Array(S + 1);
    const nOut = new Int32Array(S + 1);
    const total = new Float64Array(S + 1);
    for (let k = 0; k < c.ix.nEdges; k++) {
      if (mask[k] !== 1) continue;
      this.edges.push(k);
      const from = c.ix.sender[k]!;
      const f = c.ix.feeds[c.ix.receiver[k]!]!;
      const to = f >= 0 ? f : S;
      const a = Math.abs(c.scores[k]!) || 0;
      nOut[from]!++;
      total[from]! += a;
      nIn[to]!++;
      total[to]! += a;
    }
    this.nodes = [];
    for (let i = 0; i <= S; i++) {
      if (nIn[i]! + nOut[i]! > 0) this.nodes.push({ name: i === S ? 'logits' : g.senders[i]!.name, nIn: nIn[i]!, nOut: nOut[i]!, total: total[i]! });
    }
    this.render();
  }

  /** Marks the rows of a node hovered in the graph. */
  mark(node: string | null): void {
    if (node === this.marked) return;
    this.marked = node;
    for (const tr of this.element.querySelectorAll<HTMLElement>('tr[data-nodes]')) {
      tr.classList.toggle('linked', node !== null && tr.dataset.nodes!.split(' ').includes(node));
    }
  }

  private matches(text: string): boolean {
    const q = this.search.value.trim().toLowerCase();
    return q === '' || text.toLowerCase().includes(q);
  }

  private filteredNodes(): NodeRow[] {
    return this.nodes.filter((n) => this.matches(n.name));
  }

  /** Every edge of a circuit by |score| descending (unscored last), computed once per circuit. */
  private absOrder: { circuit: LoadedCircuit; order: Int32Array } | undefined;

  /** The current cut's edges in |score| order. */
  private inAbsOrder(c: LoadedCircuit): number[] {
    if (this.absOrder?.circuit !== c) {
      const sc = c.scores;
      const order = Int32Array.from({ length: c.ix.nEdges }, (_, k) => k);
      const key = (k: number): number => (Number.isNaN(sc[k]!) ? -1 : Math.abs(sc[k]!));
      order.sort((a, b) => key(b) - key(a) || a - b);
      this.absOrder = { circuit: c, order };
    }
    const mask = this.mask;
    const out: number[] = [];
    for (const k of this.absOrder.order) if (mask[k] === 1) out.push(k);
    return out;
  }

  private render(): void {
    const c = this.circuit;
    if (!c) return;
    for (const r of this.refreshers) r();
    const sc = c.scores;
    const q = this.search.value.trim();
    let edges = q === '' ? [...this.edges] : this.edges.filter((k) => this.matches(edgeName(c, k)));
    const cmp: Record<Exclude<EdgeSort, 'abs'>, (a: number, b: number) => number> = {
      score: (a, b) => sc[b]! - sc[a]! || a - b,
      name: (a, b) => edgeName(c, a).localeCompare(edgeName(c, b)),
    };
    // Rank is always by |score| (unscored last), whatever the sort: the cut's edges in the
    // circuit's |score| order (sorted once per circuit), so a re-cut of 32k edges needs no sort.
    const byAbs = this.edges.length === 0 ? [] : this.inAbsOrder(c);
    const rank = new Int32Array(c.ix.nEdges);
    byAbs.forEach((k, i) => (rank[k] = i + 1));
    const sort = this.edgeSort;
    if (sort === 'abs') edges = q === '' ? byAbs : byAbs.filter((k) => this.matches(edgeName(c, k)));
    else {
      const nanLast = (a: number, b: number): number => (Number.isNaN(sc[a]!) ? 1 : 0) - (Number.isNaN(sc[b]!) ? 1 : 0);
      edges.sort((a, b) => nanLast(a, b) || cmp[sort](a, b));
    }
    this.edgeBody.replaceChildren(
      ...edges.slice(0, MAX_ROWS).map((k) => {
        const [from, to] = endpoints(c, k);
        const tr = h(
          'tr',
          { data: { edge: k, nodes: `${from} ${to}` } },
          h('td', { class: 'num' }, String(rank[k])),
          h('td', { class: 'mono' }, edgeName(c, k)),
          h('td', { class: 'num' }, fmt(sc[k]!, 3)),
          h('td', { class: 'num' }, fmt(Math.abs(sc[k]!), 3)),
        );
        tr.addEventListener('mouseenter', () => this.links.highlight(null, k));
        tr.addEventListener('mouseleave', () => this.links.highlight(null, null));
        return tr;
      }),
    );
    fill(this.edgeCount, edges.length, this.edges.length, 'edges');
    const nodes = this.filteredNodes();
    const ncmp: Record<NodeSort, (a: NodeRow, b: NodeRow) => number> = {
      abs: (a, b) => b.total - a.total,
      in: (a, b) => b.nIn - a.nIn || b.total - a.total,
      out: (a, b) => b.nOut - a.nOut || b.total - a.total,
      name: (a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }),
    };
    nodes.sort(ncmp[this.nodeSort]);
    this.nodeBody.replaceChildren(
      ...nodes.slice(0, MAX_ROWS).map((n) => {
        const tr = h(
          'tr',
          { class: 'clickable', data: { node: n.name, nodes: n.name }, attrs: { tabindex: 0 } },
          h('td', { class: 'mono' }, n.name),
          h('td', { class: 'num' }, String(n.nIn)),
          h('td', { class: 'num' }, String(n.nOut)),
          h('td', { class: 'num' }, fmt(n.total, 3)),
        );
        tr.addEventListener('mouseenter', () => this.links.highlight(n.name, null));
        tr.addEventListener('mouseleave', () => this.links.highlight(null, null));
        tr.addEventListener('click', () => this.links.select(n.name));
        tr.addEventListener('keydown', (e) => {
          if (e.key === 'Enter') this.links.select(n.name);
        });
        return tr;
      }),
    );
    fill(this.nodeCount, nodes.length, this.nodes.length, 'nodes');
    const marked = this.marked;
    this.marked = null;
    this.mark(marked);
  }
}

function fill(el: HTMLElement, shown: number, total: number, what: string): void {
  el.dataset.shown = String(shown);
  el.textContent =
    shown === total
      ? `${fmtInt(total)} ${what}${shown > MAX_ROWS ? `, the first ${MAX_ROWS} listed` : ''}`
      : `${fmtInt(shown)} of ${fmtInt(total)} ${what} match${shown > MAX_ROWS ? `, the first ${MAX_ROWS} listed` : ''}`;
}
