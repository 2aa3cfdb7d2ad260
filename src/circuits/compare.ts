// What two circuits share: edges and nodes in both, only in one, Jaccard indices, and the settings
// that differ. Pure (no store, no printing) so the CLI and the viewer format the same result.
// Edges and nodes are matched by name, so circuits of different graph shapes still compare.
import { canonicalJson, flattenJson, parseJson, type Json } from '../store/json.js';
import { jaccard } from '../evaluation/measures.js';
import type { Circuit } from './circuit.js';

export interface ComparedEdge {
  readonly name: string;
  /** The edge's score in each circuit (NaN when unscored there or not an edge of its graph). */
  readonly scoreA: number;
  readonly scoreB: number;
}

export interface SetComparison<T> {
  readonly both: readonly T[];
  readonly onlyA: readonly T[];
  readonly onlyB: readonly T[];
  /** |A and B| / |A or B|; 1 when both are empty (equal sets). */
  readonly jaccard: number;
}

export interface SettingDifference {
  /** 'method', 'threshold', 'model.fingerprint', 'settings.corruption.kind', 'extra.topN', ... */
  readonly field: string;
  /** undefined: absent on that side. */
  readonly a: Json | undefined;
  readonly b: Json | undefined;
}

export interface CircuitComparison {
  readonly edges: SetComparison<ComparedEdge>;
  readonly nodes: SetComparison<string>;
  readonly size: { readonly a: number; readonly b: number };
  readonly faithfulness: { readonly a: number | null; readonly b: number | null };
  /** Metadata, graph shape and settings (dotted paths) whose values differ, sorted by field. */
  readonly differences: readonly SettingDifference[];
}

export interface CompareOptions {
  /** Each side's stored settings (Store circuit summaries carry them); compared leaf by leaf. */
  readonly settingsA?: unknown;
  readonly settingsB?: unknown;
}

function scoreByName(c: Circuit, name: string): number {
  try {
    const e = c.graph.parseEdge(name);
    return c.scores[c.index(e.sender, e.receiver)]!;
  } catch {
    return NaN; // not an edge of this graph's shape
  }
}

/** Larger |score| first, NaN last; Array.sort is stable, so ties keep graph order. */
const byMagnitude =
  <T>(key: (t: T) => number) =>
  (x: T, y: T): number => {
    const a = Math.abs(key(x));
    const b = Math.abs(key(y));
    if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : -1;
    return a > b ? -1 : a < b ? 1 : 0;
  };

function describe(c: Circuit, settings: unknown): Map<string, Json> {
  const m = c.meta;
  const out = new Map<string, Json>([
    ['method', m.method],
    ['metric', m.metric],
    ['corruption', m.corruption],
    ['direction', m.direction],
    ['threshold', m.threshold],
    ['model.fingerprint', m.model.fingerprint],
    ['model.name', m.model.name],
    ['graph', `${c.graph.nLayers} layers x ${c.graph.nHeads} heads`],
  ]);
  for (const [k, v] of flattenJson(parseJson(canonicalJson(m.extra, 'circuit meta.extra')))) out.set(k === '' ? 'extra' : `extra.${k}`, v);
  if (settings !== undefined) {
    for (const [k, v] of flattenJson(parseJson(canonicalJson(settings, 'circuit settings')))) out.set(k === '' ? 'settings' : `settings.${k}`, v);
  }
  return out;
}

/**
 * The fields (dotted paths of flattened settings) whose values differ between two sides, sorted by
 * field; a field absent on one side differs. Used for circuits and for runs (`patchwise compare`).
 */
export function diffSettings(a: ReadonlyMap<string, Json>, b: ReadonlyMap<string, Json>): SettingDifference[] {
  const text = (v: Json | undefined): string | undefined => (v === undefined ? undefined : canonicalJson(v));
  return [...new Set([...a.keys(), ...b.keys()])]
    .sort()
    .filter((k) => text(a.get(k)) !== text(b.get(k)))
    .map((k) => ({ field: k, a: a.get(k), b: b.get(k) }));
}

export function compareCircuits(a: Circuit, b: Circuit, opts: CompareOptions = {}): CircuitComparison {
  const edgesA = a.edges();
  const edgesB = b.edges();
  const inA = new Set(edgesA.map((e) => e.name));
  const inB = new Set(edgesB.map((e) => e.name));
  const both: ComparedEdge[] = [];
  const onlyA: ComparedEdge[] = [];
  for (const e of edgesA) {
    const row = { name: e.name, scoreA: e.score, scoreB: scoreByName(b, e.name) };
    (inB.has(e.name) ? both : onlyA).push(row);
  }
  const onlyB = edgesB.filter((e) => !inA.has(e.name)).map((e) => ({ name: e.name, scoreA: scoreByName(a, e.name), scoreB: e.score }));
  both.sort(byMagnitude((e) => Math.max(Math.abs(e.scoreA), Math.abs(e.scoreB))));
  onlyA.sort(byMagnitude((e) => e.scoreA));
  onlyB.sort(byMagnitude((e) => e.scoreB));

  const nodesA = a.nodes();
  const nodesB = b.nodes();
  const setA = new Set(nodesA);
  const setB = new Set(nodesB);
  const nodesBoth = nodesA.filter((n) => setB.has(n));

  const differences = diffSettings(describe(a, opts.settingsA), describe(b, opts.settingsB));

  return {
    edges: { both, onlyA, onlyB, jaccard: jaccard(both.length, edgesA.length, edgesB.length) },
    nodes: {
      both: nodesBoth,
      onlyA: nodesA.filter((n) => !setB.has(n)),
      onlyB: nodesB.filter((n) => !setA.has(n)),
      jaccard: jaccard(nodesBoth.length, nodesA.length, nodesB.length),
    },
    size: { a: edgesA.length, b: edgesB.length },
    faithfulness: { a: a.meta.faithfulness, b: b.meta.faithfulness },
    differences,
  };
}
