// Circuits in EAP-IG's graph JSON (hannamw/EAP-IG, Graph.to_json / from_json):
//   {"cfg": {"n_layers", "n_heads", "parallel_attn_mlp", "d_model", ...},
//    "nodes": {"input": {"in_graph": true}, "a0.h0": {...}, ..., "logits": {...}},
//    "edges": {"input->a0.h0<q>": {"score": 0.12, "in_graph": false}, ...}}
// Older EAP-IG wrote nodes as bare booleans and unscored edges as null; both are accepted. Edge and
// node names are the same as ours, so names map one to one. Python's json writes NaN and
// +-Infinity as bare tokens, so the reader accepts those too, and the writer emits them the same way.
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { ComponentGraph, type GraphShape } from '../graph/component-graph.js';
import { Circuit, circuitMetaSchema, zodUserError, type CircuitMetaInit } from './circuit.js';

/** Key under cfg where we keep our metadata; EAP-IG copies unknown cfg keys through untouched. */
export const PATCHWISE_META_KEY = 'patchwise_meta';

/** JSON.parse that also reads Python's NaN, Infinity and -Infinity tokens (NaN becomes null). */
export function parsePythonJson(text: string, source: string): unknown {
  let t = text;
  if (/NaN|Infinity/.test(text)) {
    // Strings are matched first so that a name containing "NaN" is left alone; 1e999 parses as Infinity.
    t = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : m === 'NaN' ? 'null' : m.startsWith('-') ? '-1e999' : '1e999'));
  }
  try {
    return JSON.parse(t) as unknown;
  } catch (e) {
    throw new UserError(`${source}: not valid JSON: ${(e as Error).message}`);
  }
}

/** The shortest decimal that reads back (through float32) as the same float32; Python tokens for NaN and infinities. */
export function float32Text(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  const f = Math.fround(v);
  for (let p = 1; p < 9; p++) {
    const x = Number(f.toPrecision(p));
    if (Math.fround(x) === f) return String(x);
  }
  return String(Number(f.toPrecision(9)));
}

const scoreValue = z.custom<number | null>((v) => v === null || typeof v === 'number', { message: 'expected a number, NaN or null' });
const nodeValue = z.union([
  z.boolean(),
  z.looseObject({
    in_graph: z.boolean(),
    score: scoreValue.optional(),
    neurons: z.array(z.union([z.boolean(), z.number()])).optional(),
    neurons_scores: z.array(scoreValue).optional(),
  }),
]);

export const eapGraphSchema = z.object({
  cfg: z.looseObject({
    n_layers: z.number().int().positive(),
    n_heads: z.number().int().positive(),
    parallel_attn_mlp: z.boolean().optional(),
    d_model: z.number().int().positive().optional(),
  }),
  nodes: z.record(z.string(), nodeValue),
  edges: z.record(z.string(), z.looseObject({ score: scoreValue, in_graph: z.boolean() })),
});

export type EapGraphJson = z.infer<typeof eapGraphSchema>;

/** True when `value` has EAP-IG's three top-level keys (a cheap sniff before full validation). */
export function looksLikeEapJson(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'cfg' in value && 'nodes' in value && 'edges' in value;
}

export interface EapExportOptions {
  /** cfg.d_model; defaults to the circuit's meta.model.dModel. EAP-IG's from_json needs it. */
  readonly dModel?: number;
  /** Write every edge, unscored ones (NaN) with this score (MIB's submissions score every edge). */
  readonly unscoredAs?: number;
}

/**
 * EAP-IG graph JSON text. Every scored or in-circuit edge is written, in EAP-IG's own order;
 * unscored edges outside the circuit are left out (EAP-IG reads a missing edge as score 0, not in
 * graph; we read it back as unscored). Our metadata rides along in cfg.patchwise_meta.
 */
export function toEapJson(c: Circuit, opts: EapExportOptions = {}): string {
  const g = c.graph;
  const R = g.nReceivers;
  const cfg: Record<string, unknown> = { n_layers: g.nLayers, n_heads: g.nHeads, parallel_attn_mlp: false };
  const dModel = opts.dModel ?? c.meta.model.dModel;
  if (dModel !== null && dModel !== undefined) cfg.d_model = dModel;
  cfg[PATCHWISE_META_KEY] = c.meta;

  const inNodes = new Set(c.nodes());
  const nodeParts = g.senders.map((s) => `${JSON.stringify(s.name)}: {"in_graph": ${inNodes.has(s.name)}}`);
  // EAP-IG's LogitNode is always in the graph.
  nodeParts.push(`"logits": {"in_graph": true}`);

  const edgeParts: string[] = [];
  const edge = (s: number, r: number): void => {
    const i = s * R + r;
    const raw = c.scores[i]!;
    const score = Number.isNaN(raw) && opts.unscoredAs !== undefined ? opts.unscoredAs : raw;
    const inGraph = c.mask[i] === 1;
    if (Number.isNaN(score) && !inGraph) return;
    edgeParts.push(`${JSON.stringify(g.edgeName({ sender: s, receiver: r }))}: {"score": ${float32Text(score)}, "in_graph": ${inGraph}}`);
  };
  // The order of EAP-IG's Graph.from_model (sequential blocks): per layer, each earlier sender to
  // every head's q, k, v; then each sender up to this layer's heads to the MLP; finally all to logits.
  for (let layer = 0; layer < g.nLayers; layer++) {
    const before = g.layerSenderStart(layer);
    for (let s = 0; s < before; s++) {
      for (let h = 0; h < g.nHeads; h++) {
        for (const ch of ['q', 'k', 'v'] as const) edge(s, g.headInputReceiver(layer, h, ch));
      }
    }
    const mlp = g.mlpReceiver(layer);
    for (let s = 0; s < g.fanIn[mlp]!; s++) edge(s, mlp);
  }
  for (let s = 0; s < g.nSenders; s++) edge(s, g.logitsReceiver);

  return `{"cfg": ${JSON.stringify(cfg)}, "nodes": {${nodeParts.join(', ')}}, "edges": {${edgeParts.join(', ')}}}\n`;
}

export interface EapImportOptions {
  /** The model's shape; a file for another shape is a UserError. */
  readonly expectShape?: GraphShape;
  /** Metadata to set (overrides what the file carries, e.g. the model fingerprint). */
  readonly meta?: Partial<CircuitMetaInit>;
}

export interface EapImport {
  readonly circuit: Circuit;
  /** Things the import kept or dropped that the user may want to know (node flags, neurons, dangling edges). */
  readonly warnings: string[];
}

/**
 * Reads a parsed EAP-IG graph JSON (see parsePythonJson). Scores become float32 as in EAP-IG's
 * tensors; null or NaN scores and edges missing from the file are unscored. Nodes are derived from
 * the edges (the file's node flags are only checked), as are all patchwise circuits.
 */
export function fromEapJson(value: unknown, source: string, opts: EapImportOptions = {}): EapImport {
  const parsed = eapGraphSchema.safeParse(value);
  if (!parsed.success) throw zodUserError(source, parsed.error);
  const d = parsed.data;
  const warnings: string[] = [];
  const { n_layers: nLayers, n_heads: nHeads } = d.cfg;
  if (d.cfg.parallel_attn_mlp === true) {
    throw new UserError(`${source}: cfg.parallel_attn_mlp: true (attention and MLP in parallel, as in GPT-J or Pythia); patchwise graphs are sequential blocks (GPT-2, Llama)`);
  }
  const want = opts.expectShape;
  if (want !== undefined && (want.nLayers !== nLayers || want.nHeads !== nHeads)) {
    throw new UserError(`${source}: cfg: the file is for ${nLayers} layers x ${nHeads} heads, the model has ${want.nLayers} x ${want.nHeads}`);
  }
  const graph = new ComponentGraph({ nLayers, nHeads });
  const R = graph.nReceivers;
  const scores = new Float32Array(graph.nSenders * R).fill(NaN);
  const mask = new Uint8Array(graph.nSenders * R);
  for (const [name, e] of Object.entries(d.edges)) {
    let edge;
    try {
      edge = graph.parseEdge(name);
    } catch (err) {
      throw new UserError(`${source}: edge "${name}": ${(err as Error).message}`);
    }
    const i = edge.sender * R + edge.receiver;
    scores[i] = e.score === null ? NaN : Math.fround(e.score);
    mask[i] = e.in_graph ? 1 : 0;
  }

  let meta: CircuitMetaInit = { method: 'imported', extra: { format: 'eap-ig' } };
  const carried = d.cfg[PATCHWISE_META_KEY];
  if (carried !== undefined) {
    const m = circuitMetaSchema.safeParse(carried);
    if (m.success) meta = m.data;
    else warnings.push(`cfg.${PATCHWISE_META_KEY} is not valid patchwise metadata (${m.error.issues[0]?.message ?? 'invalid'}); ignored`);
  }
  const fileDModel = d.cfg.d_model ?? null;
  meta = {
    ...meta,
    ...opts.meta,
    model: { fingerprint: null, name: null, ...meta.model, ...(fileDModel === null ? {} : { dModel: fileDModel }), ...opts.meta?.model },
  };
  let circuit: Circuit;
  try {
    circuit = new Circuit(graph, { scores, mask, meta });
  } catch (e) {
    throw new UserError(`${source}: ${(e as Error).message}`);
  }

  // Node flags: names must exist; flags that disagree with the edges are reported, not trusted
  // (older EAP-IG left every node in_graph after apply_threshold without pruning).
  const derived = new Set(circuit.nodes());
  const known = new Set([...graph.senders.map((s) => s.name), 'logits']);
  const disagree: string[] = [];
  let nodeScores = 0;
  let neuronMasks = 0;
  for (const [name, v] of Object.entries(d.nodes)) {
    if (!known.has(name)) {
      throw new UserError(`${source}: node "${name}": unknown node (expected input, aL.hH, mL or logits within ${nLayers} layers x ${nHeads} heads)`);
    }
    const flag = typeof v === 'boolean' ? v : v.in_graph;
    if (name !== 'logits' && flag !== derived.has(name)) disagree.push(`${name} (${flag ? 'in' : 'out'} in the file)`);
    if (typeof v === 'object') {
      if (typeof v.score === 'number' && !Number.isNaN(v.score)) nodeScores++;
      if (v.in_graph && v.neurons?.some((x) => x === false || x === 0)) neuronMasks++;
    }
  }
  if (disagree.length > 0) {
    warnings.push(`${disagree.length} node flag(s) disagree with the edges, e.g. ${disagree.slice(0, 3).join(', ')}; patchwise derives nodes from edges`);
  }
  if (nodeScores > 0) warnings.push(`${nodeScores} node score(s) ignored: patchwise circuits score edges only`);
  if (neuronMasks > 0) warnings.push(`${neuronMasks} node(s) have neuron-level masks, ignored: the circuit is read at edge level`);
  const dangling = circuit.danglingEdges();
  if (dangling > 0) warnings.push(`${dangling} in-circuit edge(s) lie on no input->logits path (kept as in the file; see Circuit.pruneDeadEnds)`);
  return { circuit, warnings };
}
