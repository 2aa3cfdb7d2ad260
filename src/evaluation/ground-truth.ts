// Ground-truth circuits from files: `ground-truth.json` beside a model (what `model plant` writes),
// a pipeline's `groundTruth: FILE`, or `circuit compare --truth FILE`. Three shapes are read: our
// own ({ edges, nodes?, positionalEdges? }), EAP-IG graph JSON (its in-graph edges), or a plain JSON
// list of edge names. Every edge name is checked against the model's graph, so a truth for another
// model fails where it is read, naming the file and the edge.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../core/errors.js';
import { ABLATION_KINDS, type AblationKind, type Corruption, type GroundTruth, isAblation, isAblationKind } from '../core/vocabulary.js';
import { fromEapJson, looksLikeEapJson, parsePythonJson } from '../circuits/eap-json.js';
import type { Circuit } from '../circuits/circuit.js';
import type { ComponentGraph } from '../graph/component-graph.js';
import { GROUND_TRUTH_FILE } from '../synthetic/planted.js';
import { confusion, edgeScoreAuc } from './evaluate.js';

/** Precision, recall and ROC-AUC of one circuit against a ground truth. */
export interface TruthScores {
  readonly precision: number;
  readonly recall: number;
  /** ROC-AUC of the circuit's edge scores (|score|; unscored edges lowest); NaN when it has none. */
  readonly auc: number;
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Checks every edge name of a list against the graph: a UserError naming the source, field and edge. */
function checkedEdges(graph: ComponentGraph, names: readonly string[], source: string, field: string): string[] {
  const seen = new Set<string>();
  for (const name of names) {
    let ok = false;
    try {
      const e = graph.parseEdge(name);
      ok = graph.hasEdge(e.sender, e.receiver);
    } catch (err) {
      throw new UserError(`${source}: ${field}: edge "${name}": ${(err as Error).message}`);
    }
    if (!ok) throw new UserError(`${source}: ${field}: edge "${name}" is not an edge of the model's graph (${graph.nLayers} layers x ${graph.nHeads} heads)`);
    seen.add(name);
  }
  return [...seen];
}

/** A parsed ground truth of any of the three shapes, its edges checked against `graph`. */
export function parseGroundTruth(value: unknown, source: string, graph: ComponentGraph): GroundTruth {
  if (isStringList(value)) return { edges: checkedEdges(graph, value, source, '(list)') };
  if (looksLikeEapJson(value)) {
    const { circuit } = fromEapJson(value, source, { expectShape: { nLayers: graph.nLayers, nHeads: graph.nHeads } });
    return {
      edges: circuit
        .edges()
        .filter((e) => circuit.inCircuit(e.sender, e.receiver))
        .map((e) => e.name),
    };
  }
  if (typeof value === 'object' && value !== null && 'edges' in value) {
    const v = value as { edges: unknown; nodes?: unknown; positionalEdges?: unknown; ablationEdges?: unknown };
    if (!isStringList(v.edges)) throw new UserError(`${source}: edges: expected a list of edge names`);
    if (v.nodes !== undefined && !isStringList(v.nodes)) throw new UserError(`${source}: nodes: expected a list of node names`);
    if (v.positionalEdges !== undefined && !isStringList(v.positionalEdges)) throw new UserError(`${source}: positionalEdges: expected a list of edge names`);
    const edges = checkedEdges(graph, v.edges, source, 'edges');
    const positionalEdges = v.positionalEdges === undefined ? undefined : checkedEdges(graph, v.positionalEdges, source, 'positionalEdges');
    const both = positionalEdges?.filter((e) => edges.includes(e)) ?? [];
    if (both.length > 0) throw new UserError(`${source}: positionalEdges: edge "${both[0]}" is also in edges (an edge is one or the other)`);
    const ablationEdges: Partial<Record<AblationKind, readonly string[]>> = {};
    if (v.ablationEdges !== undefined) {
      if (typeof v.ablationEdges !== 'object' || v.ablationEdges === null) throw new UserError(`${source}: ablationEdges: expected { ${ABLATION_KINDS.join(', ')}: [edge names] }`);
      for (const [kind, list] of Object.entries(v.ablationEdges)) {
        if (!isAblationKind(kind)) throw new UserError(`${source}: ablationEdges.${kind}: not an ablation (${ABLATION_KINDS.join(', ')})`);
        if (!isStringList(list)) throw new UserError(`${source}: ablationEdges.${kind}: expected a list of edge names`);
        ablationEdges[kind] = checkedEdges(graph, list, source, `ablationEdges.${kind}`);
      }
    }
    return {
      edges,
      ...(v.nodes === undefined ? {} : { nodes: v.nodes }),
      ...(positionalEdges === undefined ? {} : { positionalEdges }),
      ...(v.ablationEdges === undefined ? {} : { ablationEdges }),
    };
  }
  throw new UserError(`${source}: not a ground truth: expected { "edges": [...] }, EAP-IG graph JSON (cfg, nodes, edges) or a list of edge names`);
}

export function readGroundTruthFile(file: string, graph: ComponentGraph): GroundTruth {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read: ${(e as Error).message}`);
  }
  return parseGroundTruth(parsePythonJson(text, file), file, graph);
}

/** `ground-truth.json` beside a model (in its folder, or beside a single-file model), when there is one. */
export function groundTruthBeside(modelPath: string): string | undefined {
  const folder = existsSync(modelPath) && statSync(modelPath).isDirectory() ? modelPath : dirname(modelPath);
  const file = join(folder, GROUND_TRUTH_FILE);
  return existsSync(file) ? file : undefined;
}

/**
 * The ground truth as a corruption sees it: for an ablation with its own visible edges
 * (GroundTruth.ablationEdges), those are the positives and the position-only edges it cannot see
 * are excluded; otherwise the truth as it is.
 */
export function truthFor(truth: GroundTruth, corruption: Corruption): GroundTruth {
  const visible = isAblation(corruption) ? truth.ablationEdges?.[corruption.kind] : undefined;
  if (visible === undefined) return truth;
  const positionalEdges = (truth.positionalEdges ?? []).filter((e) => !visible.includes(e));
  return { edges: visible, ...(truth.nodes ? { nodes: truth.nodes } : {}), positionalEdges };
}

/** Precision and recall of a circuit's edges and ROC-AUC of its edge scores against a ground truth. */
export function truthScores(circuit: Circuit, truth: GroundTruth): TruthScores {
  const c = confusion(circuit.graph, circuit, truth);
  return { precision: c.precision, recall: c.recall, auc: circuit.nScored === 0 ? NaN : edgeScoreAuc(circuit.graph, circuit.scores, truth) };
}
