// A circuit as one compact object, like EAP-IG's Graph: the component graph's shape, a dense score
// matrix [nSenders x nReceivers] and an in-circuit mask of the same shape, plus what produced it.
// Row = sender index, column = receiver index (ComponentGraph's orders), so entry (s, r) sits at
// s * nReceivers + r. Entries that are not edges of the graph hold NaN / 0 and are never read.
//
// Node semantics (EAP-IG's names: 'input', 'a0.h1', 'm3', 'logits'): a node is in the circuit when
// any in-circuit edge touches it: a head through its sender or any of its q/k/v receivers, an MLP
// through its sender or its receiver, input through its sender, logits through its receiver. After
// pruneDeadEnds this equals EAP-IG's "has an in-circuit edge in and out" (input and logits excepted).
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { formatZodIssues } from '../core/zod-issues.js';
import { DIRECTIONS, type Direction, isDirection } from '../core/vocabulary.js';
import { ComponentGraph, type GraphShape } from '../graph/component-graph.js';
import { canonicalJson } from '../store/json.js';

export interface CircuitModel {
  /** Content fingerprint of the model (store models.fingerprint), when known. */
  readonly fingerprint: string | null;
  readonly name: string | null;
  /** Residual width; EAP-IG's graph JSON carries it as cfg.d_model. */
  readonly dModel: number | null;
}

export interface CircuitMeta {
  /** 'acdc', 'eap', 'eap-ig', 'imported', ... */
  readonly method: string;
  /** 'kl', 'logit-diff', ...; null when unknown (e.g. an imported file). */
  readonly metric: string | null;
  /** A short corruption label such as 'str-abc' or 'gn'; the full spec belongs in the stored settings. */
  readonly corruption: string | null;
  readonly direction: Direction | null;
  /** The |score| threshold the mask was cut at; null for top-n cuts and unknown cuts. */
  readonly threshold: number | null;
  readonly model: CircuitModel;
  /** (m(C) - m(empty)) / (m(M) - m(empty)) of this mask, when evaluated. */
  readonly faithfulness: number | null;
  /** Anything else worth keeping (JSON values only). topN() records {topN: n} here. */
  readonly extra: Readonly<Record<string, unknown>>;
}

/** What a caller gives: only `method` is required. */
export interface CircuitMetaInit {
  readonly method: string;
  readonly metric?: string | null;
  readonly corruption?: string | null;
  readonly direction?: Direction | null;
  readonly threshold?: number | null;
  readonly model?: Partial<CircuitModel> | null;
  readonly faithfulness?: number | null;
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface CircuitEdge {
  readonly sender: number;
  readonly receiver: number;
  /** EAP-IG edge name, e.g. `a0.h1->a3.h2<q>`. */
  readonly name: string;
  /** NaN when the edge has no score. */
  readonly score: number;
}

export interface CircuitInit {
  /** [nSenders x nReceivers]; NaN where no score. Copied. Default: all NaN. */
  readonly scores?: Float32Array;
  /** [nSenders x nReceivers] of 0/1; must be 0 off the graph's edges. Copied. Default: all 0. */
  readonly mask?: Uint8Array;
  readonly meta: CircuitMetaInit;
}

/** Calls fn(sender, receiver, k) for every edge, k counting edges in ComponentGraph.edges() order (receiver-major). */
export function forEachEdge(graph: ComponentGraph, fn: (sender: number, receiver: number, k: number) => void): void {
  let k = 0;
  for (let r = 0; r < graph.nReceivers; r++) {
    const fan = graph.fanIn[r]!;
    for (let s = 0; s < fan; s++) fn(s, r, k++);
  }
}

/** The sender a receiver feeds (its node's output): q/k/v -> the head, mlp in -> mlp out; -1 for logits. */
/** For each receiver, the sender of its node (a head input: the head; an MLP: the MLP; logits: -1). */
export function receiverFeeds(graph: ComponentGraph): Int32Array {
  const out = new Int32Array(graph.nReceivers);
  graph.receivers.forEach((r, i) => {
    out[i] = r.kind === 'head-input' ? graph.headSender(r.layer, r.head) : r.kind === 'mlp' ? graph.mlpSender(r.layer) : -1;
  });
  return out;
}

/**
 * Drops dangling edges: keeps an in-circuit edge only if it lies on some input -> logits path of
 * in-circuit edges (its sender reachable from input, its receiver reaching logits). One forward and
 * one backward sweep suffice because receivers are in stage order. Equivalent to EAP-IG's
 * Graph.prune fixed point (repeatedly dropping nodes without an in-edge or an out-edge).
 */
export function pruneDeadEnds(graph: ComponentGraph, mask: Uint8Array): Uint8Array {
  const S = graph.nSenders;
  const R = graph.nReceivers;
  if (mask.length !== S * R) throw new Error(`pruneDeadEnds: mask has ${mask.length} entries, graph needs ${S * R}`);
  const feeds = receiverFeeds(graph);
  // Forward: a receiver is live when a reachable sender feeds it in the circuit; its node's sender
  // then becomes reachable. A receiver's senders all have smaller stages, so are final already.
  const reach = new Uint8Array(S);
  reach[0] = 1;
  for (let r = 0; r < R; r++) {
    const fan = graph.fanIn[r]!;
    let live = false;
    for (let s = 0; s < fan && !live; s++) live = mask[s * R + r] === 1 && reach[s] === 1;
    const f = feeds[r]!;
    if (live && f >= 0) reach[f] = 1;
  }
  // Backward: a receiver reaches logits when its node's sender has an in-circuit edge to one that does.
  const coreachS = new Uint8Array(S);
  const coreachR = new Uint8Array(R);
  for (let r = R - 1; r >= 0; r--) {
    const f = feeds[r]!;
    coreachR[r] = f < 0 ? 1 : coreachS[f]!;
    if (coreachR[r] === 0) continue;
    const fan = graph.fanIn[r]!;
    for (let s = 0; s < fan; s++) if (mask[s * R + r] === 1) coreachS[s] = 1;
  }
  const out = new Uint8Array(S * R);
  forEachEdge(graph, (s, r) => {
    const i = s * R + r;
    if (mask[i] === 1 && reach[s] === 1 && coreachR[r] === 1) out[i] = 1;
  });
  return out;
}

function normaliseMeta(m: CircuitMetaInit): CircuitMeta {
  if (typeof m.method !== 'string' || m.method === '') throw new Error('circuit meta.method must be a non-empty string');
  if (m.direction != null && !isDirection(m.direction)) throw new Error(`circuit meta.direction must be denoising or noising, got ${String(m.direction)}`);
  const finiteOrNull = (v: number | null | undefined, field: string): number | null => {
    if (v == null) return null;
    if (!Number.isFinite(v)) throw new Error(`circuit meta.${field} must be a finite number or null, got ${v}`);
    return v === 0 ? 0 : v; // -0 -> 0: SQLite would turn it into 0 anyway
  };
  const dModel = m.model?.dModel ?? null;
  if (dModel !== null && !(Number.isInteger(dModel) && dModel > 0)) throw new Error(`circuit meta.model.dModel must be a positive integer, got ${dModel}`);
  // A deep copy through canonical JSON: rejects what JSON cannot hold and detaches it from the caller.
  const extra = JSON.parse(canonicalJson(m.extra ?? {}, 'circuit meta.extra')) as unknown;
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new Error('circuit meta.extra must be a plain object');
  return {
    method: m.method,
    metric: m.metric ?? null,
    corruption: m.corruption ?? null,
    direction: m.direction ?? null,
    threshold: finiteOrNull(m.threshold, 'threshold'),
    model: { fingerprint: m.model?.fingerprint ?? null, name: m.model?.name ?? null, dModel },
    faithfulness: finiteOrNull(m.faithfulness, 'faithfulness'),
    extra: extra as Record<string, unknown>,
  };
}

export class Circuit {
  readonly graph: ComponentGraph;
  /**
   * Canonical float32 scores: every NaN is the same quiet NaN and -0 is +0, so that the store (which
   * keeps NaN as NULL and -0 as 0) and every file format round-trip bit for bit. Do not mutate.
   */
  readonly scores: Float32Array;
  /** 1 = in the circuit. Do not mutate; derive a new circuit with withMask. */
  readonly mask: Uint8Array;
  readonly meta: CircuitMeta;

  constructor(graph: ComponentGraph | GraphShape, init: CircuitInit) {
    this.graph = graph instanceof ComponentGraph ? graph : new ComponentGraph(graph);
    const S = this.graph.nSenders;
    const R = this.graph.nReceivers;
    const n = S * R;
    if (init.scores !== undefined && init.scores.length !== n) throw new Error(`circuit scores have ${init.scores.length} entries, expected ${S} x ${R} = ${n}`);
    if (init.mask !== undefined && init.mask.length !== n) throw new Error(`circuit mask has ${init.mask.length} entries, expected ${S} x ${R} = ${n}`);
    const scores = new Float32Array(n).fill(NaN);
    const mask = new Uint8Array(n);
    const src = init.scores;
    const m = init.mask;
    forEachEdge(this.graph, (s, r) => {
      const i = s * R + r;
      if (src !== undefined) {
        const v = src[i]!;
        scores[i] = Number.isNaN(v) ? NaN : v === 0 ? 0 : v;
      }
      if (m !== undefined) {
        const b = m[i]!;
        if (b > 1) throw new Error(`circuit mask entry ${this.graph.edgeName({ sender: s, receiver: r })} is ${b}, expected 0 or 1`);
        mask[i] = b;
      }
    });
    if (m !== undefined) {
      // An in-circuit entry off the graph is a caller bug (wrong indexing), not something to drop quietly.
      let onEdges = 0;
      forEachEdge(this.graph, (s, r) => (onEdges += mask[s * R + r]!));
      let total = 0;
      for (let i = 0; i < n; i++) total += m[i]! === 0 ? 0 : 1;
      if (total !== onEdges) throw new Error(`circuit mask marks ${total - onEdges} entries that are not edges of the graph`);
    }
    this.scores = scores;
    this.mask = mask;
    this.meta = normaliseMeta(init.meta);
  }

  /** A circuit with no scores and no edges. */
  static empty(graph: ComponentGraph | GraphShape, meta: CircuitMetaInit): Circuit {
    return new Circuit(graph, { meta });
  }

  /** Position of edge (sender, receiver) in scores and mask. */
  index(sender: number, receiver: number): number {
    return sender * this.graph.nReceivers + receiver;
  }

  score(sender: number, receiver: number): number {
    return this.graph.hasEdge(sender, receiver) ? this.scores[this.index(sender, receiver)]! : NaN;
  }

  inCircuit(sender: number, receiver: number): boolean {
    return this.graph.hasEdge(sender, receiver) && this.mask[this.index(sender, receiver)] === 1;
  }

  /** Number of in-circuit edges. */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.mask.length; i++) n += this.mask[i]!;
    return n;
  }

  /** Number of edges with a score (not NaN). */
  get nScored(): number {
    let n = 0;
    forEachEdge(this.graph, (s, r) => {
      if (!Number.isNaN(this.scores[s * this.graph.nReceivers + r]!)) n++;
    });
    return n;
  }

  /** In-circuit edges, receivers in forward order, senders in forward order within each. */
  edges(): CircuitEdge[] {
    const out: CircuitEdge[] = [];
    const R = this.graph.nReceivers;
    forEachEdge(this.graph, (s, r) => {
      const i = s * R + r;
      if (this.mask[i] === 1) out.push({ sender: s, receiver: r, name: this.graph.edgeName({ sender: s, receiver: r }), score: this.scores[i]! });
    });
    return out;
  }

  /** Names of the nodes in the circuit (see the node semantics at the top of this file), in graph order, logits last. */
  nodes(): string[] {
    const g = this.graph;
    const R = g.nReceivers;
    const out = new Uint8Array(g.nSenders);
    const inn = new Uint8Array(R);
    forEachEdge(g, (s, r) => {
      if (this.mask[s * R + r] === 1) {
        out[s] = 1;
        inn[r] = 1;
      }
    });
    const feeds = receiverFeeds(g);
    const touched = Uint8Array.from(out);
    for (let r = 0; r < R; r++) if (inn[r] === 1 && feeds[r]! >= 0) touched[feeds[r]!] = 1;
    const names = g.senders.filter((s) => touched[s.index] === 1).map((s) => s.name);
    if (inn[g.logitsReceiver] === 1) names.push('logits');
    return names;
  }

  /** The same scores with another mask (and meta changes). */
  withMask(mask: Uint8Array, meta: Partial<CircuitMetaInit> = {}): Circuit {
    return new Circuit(this.graph, { scores: this.scores, mask, meta: { ...this.meta, ...meta } });
  }

  withMeta(meta: Partial<CircuitMetaInit>): Circuit {
    return new Circuit(this.graph, { scores: this.scores, mask: this.mask, meta: { ...this.meta, ...meta } });
  }

  /** This circuit without its dangling edges (those on no input -> logits path). */
  pruneDeadEnds(): Circuit {
    return this.withMask(pruneDeadEnds(this.graph, this.mask));
  }

  /** Number of in-circuit edges that pruneDeadEnds would drop. */
  danglingEdges(): number {
    let kept = 0;
    const p = pruneDeadEnds(this.graph, this.mask);
    for (let i = 0; i < p.length; i++) kept += p[i]!;
    return this.size - kept;
  }

  /**
   * Re-cut from the scores: edges with |score| >= tau (unscored edges never), then dead ends
   * dropped. Faithfulness is cleared: it belonged to the old mask.
   */
  withThreshold(tau: number): Circuit {
    if (Number.isNaN(tau)) throw new Error('withThreshold: tau is NaN');
    const R = this.graph.nReceivers;
    const mask = new Uint8Array(this.mask.length);
    forEachEdge(this.graph, (s, r) => {
      const i = s * R + r;
      if (Math.abs(this.scores[i]!) >= tau) mask[i] = 1;
    });
    const extra = { ...this.meta.extra };
    delete extra.topN;
    return this.withMask(pruneDeadEnds(this.graph, mask), { threshold: Number.isFinite(tau) ? tau : null, faithfulness: null, extra });
  }

  /**
   * The n scored edges of largest |score| (ties: earlier edge in graph order first; all scored edges
   * when n exceeds them), then dead ends dropped, so the result may have fewer than n edges (as
   * EAP-IG's apply_topn with prune). Records {topN: n} in meta.extra; threshold becomes null.
   */
  topN(n: number): Circuit {
    if (!(Number.isInteger(n) && n >= 0)) throw new Error(`topN: n must be a non-negative integer, got ${n}`);
    const R = this.graph.nReceivers;
    const idx: number[] = [];
    forEachEdge(this.graph, (s, r) => {
      const i = s * R + r;
      if (!Number.isNaN(this.scores[i]!)) idx.push(i);
    });
    // idx is in graph order and sort is stable, so ties keep graph order.
    idx.sort((a, b) => {
      const x = Math.abs(this.scores[a]!);
      const y = Math.abs(this.scores[b]!);
      return x > y ? -1 : x < y ? 1 : 0; // not y - x: Infinity - Infinity is NaN
    });
    const mask = new Uint8Array(this.mask.length);
    for (const i of idx.slice(0, n)) mask[i] = 1;
    return this.withMask(pruneDeadEnds(this.graph, mask), { threshold: null, faithfulness: null, extra: { ...this.meta.extra, topN: n } });
  }

  /** Same shape, same scores and mask bit for bit (NaN equals NaN), same meta. */
  equals(other: Circuit): boolean {
    if (this.graph.nLayers !== other.graph.nLayers || this.graph.nHeads !== other.graph.nHeads) return false;
    const a = new Uint32Array(this.scores.buffer, this.scores.byteOffset, this.scores.length);
    const b = new Uint32Array(other.scores.buffer, other.scores.byteOffset, other.scores.length);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i] || this.mask[i] !== other.mask[i]) return false;
    return canonicalJson(this.meta) === canonicalJson(other.meta);
  }

  /** Our lossless file format (see circuitFileSchema). */
  toJSON(): CircuitFile {
    const g = this.graph;
    const R = g.nReceivers;
    const scoreBytes = Buffer.alloc(g.nEdges * 4);
    const maskBytes = Buffer.alloc(g.nEdges);
    const names: string[] = [];
    forEachEdge(g, (s, r, k) => {
      const i = s * R + r;
      scoreBytes.writeFloatLE(this.scores[i]!, 4 * k);
      maskBytes[k] = this.mask[i]!;
      if (this.mask[i] === 1) names.push(g.edgeName({ sender: s, receiver: r }));
    });
    const m = this.meta;
    return {
      format: CIRCUIT_FORMAT,
      version: 1,
      graph: { nLayers: g.nLayers, nHeads: g.nHeads, nEdges: g.nEdges },
      meta: {
        method: m.method,
        metric: m.metric,
        corruption: m.corruption,
        direction: m.direction,
        threshold: m.threshold,
        faithfulness: m.faithfulness,
        model: { ...m.model },
        extra: { ...m.extra },
      },
      scores: scoreBytes.toString('base64'),
      inCircuit: maskBytes.toString('base64'),
      circuitEdges: names,
    };
  }

  /** Reads our file format; anything wrong is a UserError naming `source` and the field. */
  static fromJSON(value: unknown, source = 'circuit JSON'): Circuit {
    const parsed = circuitFileSchema.safeParse(value);
    if (!parsed.success) throw zodUserError(source, parsed.error);
    const f = parsed.data;
    const bad = (field: string, why: string): UserError => new UserError(`${source}: ${field}: ${why}`);
    let graph: ComponentGraph;
    try {
      graph = new ComponentGraph(f.graph);
    } catch (e) {
      throw bad('graph', (e as Error).message);
    }
    if (f.graph.nEdges !== graph.nEdges) throw bad('graph.nEdges', `is ${f.graph.nEdges}, but ${f.graph.nLayers} layers x ${f.graph.nHeads} heads have ${graph.nEdges} edges`);
    const scoreBytes = Buffer.from(f.scores, 'base64');
    const maskBytes = Buffer.from(f.inCircuit, 'base64');
    if (scoreBytes.length !== 4 * graph.nEdges) throw bad('scores', `decodes to ${scoreBytes.length} bytes, expected 4 x ${graph.nEdges} edges`);
    if (maskBytes.length !== graph.nEdges) throw bad('inCircuit', `decodes to ${maskBytes.length} bytes, expected one per edge (${graph.nEdges})`);
    const R = graph.nReceivers;
    const scores = new Float32Array(graph.nSenders * R).fill(NaN);
    const mask = new Uint8Array(graph.nSenders * R);
    forEachEdge(graph, (s, r, k) => {
      const b = maskBytes[k]!;
      if (b > 1) throw bad('inCircuit', `byte ${k} (${graph.edgeName({ sender: s, receiver: r })}) is ${b}, expected 0 or 1`);
      scores[s * R + r] = scoreBytes.readFloatLE(4 * k);
      mask[s * R + r] = b;
    });
    // circuitEdges is the human-readable copy of inCircuit; a file where they disagree was edited by hand.
    const listed = new Set<number>();
    for (const name of f.circuitEdges) {
      let e;
      try {
        e = graph.parseEdge(name);
      } catch (err) {
        throw bad('circuitEdges', (err as Error).message);
      }
      const i = e.sender * R + e.receiver;
      if (mask[i] !== 1) throw bad('circuitEdges', `lists ${name}, which inCircuit does not mark`);
      listed.add(i);
    }
    let marked = 0;
    for (let i = 0; i < mask.length; i++) marked += mask[i]!;
    if (marked !== listed.size) throw bad('circuitEdges', `lists ${listed.size} distinct edges, inCircuit marks ${marked}`);
    try {
      return new Circuit(graph, { scores, mask, meta: f.meta });
    } catch (e) {
      throw bad('meta', (e as Error).message);
    }
  }
}

export const CIRCUIT_FORMAT = 'patchwise-circuit';

const base64 = z
  .string()
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')
  .refine((s) => s.length % 4 === 0, 'must be base64 (length a multiple of 4)');
// z.number() rejects NaN and infinities in zod 4.
const numberOrNull = z.number().nullable();

/** CircuitMeta as JSON (also carried inside exported EAP-IG files, as cfg.patchwise_meta). */
export const circuitMetaSchema = z
  .object({
    method: z.string().min(1),
    metric: z.string().nullable(),
    corruption: z.string().nullable(),
    direction: z.enum(DIRECTIONS).nullable(),
    threshold: numberOrNull,
    faithfulness: numberOrNull,
    model: z.object({ fingerprint: z.string().nullable(), name: z.string().nullable(), dModel: z.number().int().positive().nullable() }).strict(),
    extra: z.record(z.string(), z.unknown()),
  })
  .strict();

/**
 * Our circuit file. `scores` is float32 little-endian and `inCircuit` one 0/1 byte per edge, both in
 * ComponentGraph.edges() order (receivers in forward order, senders in forward order within each),
 * so only real edges are stored. `circuitEdges` repeats the in-circuit edges by name for people and
 * diff tools; on load it must agree with inCircuit.
 */
export const circuitFileSchema = z
  .object({
    format: z.literal(CIRCUIT_FORMAT),
    version: z.literal(1),
    graph: z.object({ nLayers: z.number().int().positive(), nHeads: z.number().int().positive(), nEdges: z.number().int().nonnegative() }).strict(),
    meta: circuitMetaSchema,
    scores: base64,
    inCircuit: base64,
    circuitEdges: z.array(z.string()),
  })
  .strict();

export type CircuitFile = z.infer<typeof circuitFileSchema>;

/** The file format as a JSON Schema document (for the viewer and other tools). */
export function circuitJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(circuitFileSchema) as Record<string, unknown>;
}

/** A UserError listing every zod issue, one line each: `source: field.path: message`. */
export function zodUserError(source: string, error: z.ZodError): UserError {
  return new UserError(formatZodIssues(source, error));
}
