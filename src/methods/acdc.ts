// ACDC (Conmy et al. 2023, "Towards Automated Circuit Discovery for Mechanistic Interpretability"):
// start from the full graph, visit receivers in reverse topological order (logits, then layer L-1's
// MLP, its heads' v/k/q inputs from the last head down, ..., layer 0) and each receiver's incoming
// edges from the latest sender to the earliest; tentatively remove the edge on top of everything
// removed so far, and keep it removed (prune) when the metric moves by less than tau. Exact
// sequential semantics: every decision sees every earlier one.
//
// Removing an edge, by direction (docs/design.md section 2):
// - noising (ACDC's setting, the default): the run is on the clean prompt; a removed edge carries the
//   corrupted run's sender output. The circuit is the set of edges NOT patched.
// - denoising: the run is on the corrupted prompt; the circuit is the set of edges patched from the
//   clean run, starting from every edge patched (= the clean run). Removing an edge un-patches it: it
//   carries the corrupted-prompt run's (propagated) value again. A patched edge carries the clean
//   cache's value whatever happens upstream, so and because later edges are visited first,
//   denoising circuits keep the edges where clean information has to enter (mostly edges out of
//   `input` and early senders); the mechanism's later hops are pruned as redundant. Noising is the
//   variant that recovers whole paths.
//
// The metric: every registry metric is a score s (higher = closer to the clean behaviour; KL's score
// is -KL(P_clean || P)), averaged over the dataset's rows. The damage of removing an edge is
// s_current - s_tried. Rule 'signed' (ACDC's default for KL: damage = KL increase) prunes when
// damage < tau; rule 'absolute' (ACDC's choice for task metrics such as logit difference) when
// |damage| < tau. Task metrics are used raw (not normalised): tau is in the metric's units. The
// decision log reports the ACDC metric: KL itself for KL, the mean score otherwise.
//
// Speed without changing the answer: prefix reuse (a pass starts at the candidate's layer: every
// earlier layer equals the base run), prompts in batches, the current circuit's metric cached (it
// changes only when an edge is pruned, to the value measured with that edge removed), and
// speculative batches: K candidates of one layer are evaluated in one pass, candidate i on top of
// the pruned set plus the candidates before it that are *predicted* to be pruned. Walking the batch
// in order, a result is used only while every earlier decision matched its prediction; at the first
// mismatch the later results (made under a wrong assumption) are dropped and the next batch starts
// after it. Every used value is thus the metric of exactly the configuration sequential ACDC
// evaluates. Predicting "pruned" suits ACDC, which removes most edges; 'auto' follows the majority
// of decisions so far. A threshold sweep shares a memo of evaluated configurations between its
// runs: runs whose decisions agree so far try the same configurations (keyed by a 64-bit Zobrist
// hash of the removed-edge set).
//
// Checkpoints (acdc-checkpoint.ts): with a checkpointer, the decisions are saved as they are made
// (after a speculative batch, at most once a second, and after the last decision), and a run that
// finds progress stored under its key continues after the last stored decision: the decision log,
// pruned set and current score are restored, the starting circuit is not evaluated again, and the
// next batch is the one the uninterrupted run makes there (batches depend only on the position and
// on the decisions so far), so the result equals the uninterrupted run's.
import { circuitFromDense } from '../circuits/adapters.js';
import type { Circuit, CircuitMetaInit } from '../circuits/circuit.js';
import type { ComponentGraph, Edge } from '../graph/component-graph.js';
import { EdgeMasks } from '../runtime/masks.js';
import type { Metric } from '../experiment/metrics.js';
import { Random } from '../core/random.js';
import type { AttributionMethod, DiscoveryMethod, Direction, MetricName } from '../core/vocabulary.js';
import { checkMetrics, type Experiment, resolveMetric } from '../experiment/experiment.js';
import { type AcdcCheckpointer, type AcdcProgress, acdcCheckpointKey } from './acdc-checkpoint.js';
import { attributionScores, cutScores } from './attribution.js';
import type { Method, MethodSession, ProgressReporter } from './method.js';

export type AcdcRule = 'signed' | 'absolute';
export type Speculation = 'pruned' | 'kept' | 'auto';

export interface AcdcOptions {
  readonly tau: number;
  /** Default 'kl'. */
  readonly metric?: Metric | MetricName;
  /** Default 'noising' (ACDC's). */
  readonly direction?: Direction;
  /** 'edge' (default) or 'node': a node is every edge out of one sender, visited from the last sender back to `input`. */
  readonly level?: 'edge' | 'node';
  /** Default 'signed' for KL, 'absolute' for other metrics. */
  readonly rule?: AcdcRule;
  /**
   * Candidates per pass (speculative batch). The answer does not depend on it. Default: about 64
   * rows per pass (candidates x prompts of the largest batch), 1 to 16 candidates. On CPU, wider
   * passes stop paying off: planted model, 20 prompts: 4 candidates per pass cost 25 ms each, 1 per
   * pass 32 ms; gpt2-small, 50 prompts: 5 per pass cost 11 s each, 1 per pass 7.4 s.
   */
  readonly batch?: number;
  /** Edge level: visit only the edges into these receivers (still in reverse topological order). */
  readonly receivers?: readonly number[];
  /** Node level: visit only these senders. */
  readonly senders?: readonly number[];
  /** [S * R]: edges removed before the first decision (attribution-seeded ACDC); never visited. To resume a killed run, use `checkpoint`. */
  readonly initialPruned?: Uint8Array;
  /** Bound on configurations x rows per runtime pass. */
  readonly maxRows?: number;
  /** Decisions done of the total, with the edges (nodes) kept so far. */
  readonly progress?: ProgressReporter;
  /** Metric values of configurations already evaluated on the same runs (see AcdcMemo). */
  readonly memo?: AcdcMemo;
  /** Saves progress as decisions are made and resumes from what it has stored (see acdc-checkpoint.ts). */
  readonly checkpoint?: AcdcCheckpointer;
}

/**
 * Knobs that change how ACDC is computed, never what it decides: for tests (decision replay under
 * every speculation) and benchmarks (a partial run), through acdcTuned only.
 */
export interface AcdcTuning {
  /** What a speculative batch assumes about the candidates before each one; default 'auto'. */
  readonly speculation?: Speculation;
  /** Stop after this many decisions (result.complete is then false). */
  readonly maxDecisions?: number;
}

/**
 * Mean scores of evaluated configurations, keyed by direction, metric and the removed-edge set
 * (Zobrist hash: two 32-bit lanes of seeded random words XORed over the set). Only for runs on the
 * same Experiment. A collision (probability ~ n^2 / 2^64 for n entries) would reuse a wrong value.
 */
export class AcdcMemo {
  readonly values = new Map<string, number>();
  private lanes?: readonly [Uint32Array, Uint32Array];

  /** Per-cell random words for an S * R graph (the same for every memo: seeded). */
  words(n: number): readonly [Uint32Array, Uint32Array] {
    if (!this.lanes || this.lanes[0].length !== n) {
      const random = new Random(0x2545f491);
      const next = () => random.uint32();
      this.lanes = [Uint32Array.from({ length: n }, next), Uint32Array.from({ length: n }, next)];
    }
    return this.lanes;
  }
}

export interface AcdcDecision {
  /** Edge name (`a0.h1->a1.h2<k>`) or, at node level, the sender's name. */
  readonly name: string;
  readonly sender: number;
  /** The receiver; undefined at node level. */
  readonly receiver?: number;
  /** ACDC metric (KL for KL, else the mean score) of the current circuit before the try. */
  readonly before: number;
  /** ACDC metric with the edge (node) removed on top. */
  readonly after: number;
  /** Damage s_before - s_after in score units (KL: the KL increase); the edge's ACDC score. */
  readonly score: number;
  readonly pruned: boolean;
}

export interface AcdcStats {
  /** Configurations evaluated (used or dropped), per dataset. */
  readonly evaluations: number;
  /** Evaluations dropped after a wrong speculation. */
  readonly dropped: number;
  /** Configurations taken from the memo instead of evaluated. */
  readonly reused: number;
  /** runPatched calls (one per batch of prompts per speculative batch). */
  readonly passes: number;
  readonly seconds: number;
  /** Of which evaluating the starting circuit (0 when resuming: it is stored). */
  readonly initialSeconds: number;
  /** Decisions restored from a checkpoint (made by an earlier run, not here). */
  readonly resumed: number;
  /**
   * Decisions made without a run: edges into a node whose output no kept path carries to the
   * logits (noising, edge level), which cannot move the metric (damage 0).
   */
  readonly unread: number;
}

/**
 * The outcome of one ACDC run. Matrices are dense [S * R], index s * R + r (the layout of one
 * EdgeMasks configuration and of Circuit); acdcCircuit() makes a Circuit of it.
 */
export interface AcdcResult {
  readonly tau: number;
  readonly metric: MetricName;
  readonly direction: Direction;
  readonly level: 'edge' | 'node';
  readonly rule: AcdcRule;
  readonly graph: ComponentGraph;
  /** Each tried edge's score (node level: its sender's); NaN where never tried or not an edge. */
  readonly scores: Float32Array;
  /** 1 for edges of the graph in the circuit (not removed), 0 elsewhere. */
  readonly inCircuit: Uint8Array;
  /** Node level: [S] each tried sender's score (NaN where not tried). */
  readonly nodeScores?: Float32Array;
  readonly nEdges: number;
  readonly log: readonly AcdcDecision[];
  /** ACDC metric of the full graph (noising: 0 for KL) and of the final circuit. */
  readonly initialMetric: number;
  readonly finalMetric: number;
  /** Whether every candidate was visited (false after maxDecisions). */
  readonly complete: boolean;
  readonly stats: AcdcStats;
}

/** A unit of decision: one edge, or every edge out of one sender. */
interface Unit {
  readonly name: string;
  readonly sender: number;
  readonly receiver?: number;
  /** Indices s * R + r of its edges. */
  readonly cells: readonly number[];
  /** Earliest layer its edges reach (a pass that tries it starts there). */
  readonly layer: number;
}

/** Edges (edge level) or senders (node level) in ACDC's visiting order. */
function visitOrder(graph: ComponentGraph, opts: AcdcOptions): Unit[] {
  const R = graph.nReceivers;
  const units: Unit[] = [];
  if ((opts.level ?? 'edge') === 'edge') {
    const only = opts.receivers ? new Set(opts.receivers) : undefined;
    for (let r = R - 1; r >= 0; r--) {
      if (only && !only.has(r)) continue;
      for (let s = graph.fanIn[r]! - 1; s >= 0; s--) {
        units.push({ name: graph.edgeName({ sender: s, receiver: r }), sender: s, receiver: r, cells: [s * R + r], layer: graph.receiverLayer(r) });
      }
    }
  } else {
    const only = opts.senders ? new Set(opts.senders) : undefined;
    for (let s = graph.nSenders - 1; s >= 0; s--) {
      if (only && !only.has(s)) continue;
      const cells: number[] = [];
      let layer = graph.nLayers;
      for (let r = 0; r < R; r++) {
        if (!graph.hasEdge(s, r)) continue;
        cells.push(s * R + r);
        layer = Math.min(layer, graph.receiverLayer(r));
      }
      units.push({ name: graph.senders[s]!.name, sender: s, cells, layer });
    }
  }
  return units;
}

/** Runs ACDC at one threshold on an experiment (its clean and corrupted runs are computed once). */
export function acdc(runs: Experiment, opts: AcdcOptions): Promise<AcdcResult> {
  return acdcTuned(runs, opts, {});
}

/** acdc() with computation knobs (tests and benchmarks only; see AcdcTuning). */
export async function acdcTuned(runs: Experiment, opts: AcdcOptions, tuning: AcdcTuning): Promise<AcdcResult> {
  const t0 = performance.now();
  const graph = runs.model.graph;
  const metric = resolveMetric(opts.metric ?? 'kl');
  runs.checkMetric(metric);
  const isKl = metric.name === 'kl';
  const direction = opts.direction ?? 'noising';
  const level = opts.level ?? 'edge';
  const rule = opts.rule ?? (isKl ? 'signed' : 'absolute');
  const widest = Math.max(...runs.groups.map((g) => g.rows.length));
  const K = Math.max(1, Math.floor(opts.batch ?? Math.min(16, 64 / widest)));
  const speculation = tuning.speculation ?? 'auto';
  const tau = opts.tau;
  if (!Number.isFinite(tau)) throw new Error(`ACDC threshold must be a finite number, got ${tau}`);
  const { nSenders: S, nReceivers: R, nLayers } = graph;
  const SR = S * R;

  // isEdge[s * R + r] and each cell's receiver layer, for building masks quickly.
  const isEdge = new Uint8Array(SR);
  const cellLayer = new Int32Array(SR);
  for (const e of graph.edges()) {
    isEdge[e.sender * R + e.receiver] = 1;
    cellLayer[e.sender * R + e.receiver] = graph.receiverLayer(e.receiver);
  }
  const pruned = new Uint8Array(SR);
  let minPrunedLayer = nLayers;
  if (opts.initialPruned) {
    if (opts.initialPruned.length !== SR) throw new Error(`initialPruned has ${opts.initialPruned.length} entries, expected ${SR} (S * R)`);
    for (let i = 0; i < SR; i++) {
      if (opts.initialPruned[i] && isEdge[i]) {
        pruned[i] = 1;
        minPrunedLayer = Math.min(minPrunedLayer, cellLayer[i]!);
      }
    }
  }
  // Units are disjoint, so after dropping edges pruned from the start, no cell is ever removed twice
  // (the memo's XOR hash relies on that).
  const units = visitOrder(graph, opts)
    .map((u) => ({ ...u, cells: u.cells.filter((c) => !pruned[c]) }))
    .filter((u) => u.cells.length > 0);
  const total = Math.min(units.length, tuning.maxDecisions ?? Infinity);

  /**
   * Masks for configurations "pruned + extra[k]". Noising patches the removed edges; denoising patches
   * the others, only from `prefix` on (earlier layers are all patched: the runs' prefix cache).
   */
  const buildMasks = (extra: readonly (readonly number[])[], prefix: number): EdgeMasks => {
    const data = new Float32Array(extra.length * SR);
    const rStart = prefix >= nLayers ? graph.logitsReceiver : graph.layerReceiverStart(prefix);
    const pattern = new Float32Array(SR);
    if (direction === 'noising') {
      for (let i = 0; i < SR; i++) pattern[i] = pruned[i]!;
    } else {
      for (let i = 0; i < SR; i++) pattern[i] = isEdge[i] && !pruned[i] && i % R >= rStart ? 1 : 0;
    }
    const on = direction === 'noising' ? 1 : 0;
    extra.forEach((cells, k) => {
      data.set(pattern, k * SR);
      for (const c of cells) data[k * SR + c] = on;
    });
    return EdgeMasks.fromData(graph, extra.length, data);
  };
  let evaluations = 0;
  let reused = 0;
  const memo = opts.memo;
  const [w1, w2] = memo ? memo.words(SR) : [new Uint32Array(0), new Uint32Array(0)];
  let h1 = 0;
  let h2 = 0;
  if (memo) for (let c = 0; c < SR; c++) if (pruned[c]) [h1, h2] = [h1 ^ w1[c]!, h2 ^ w2[c]!];
  const keyOf = (cells: readonly number[]): string => {
    let a = h1;
    let b = h2;
    for (const c of cells) [a, b] = [a ^ w1[c]!, b ^ w2[c]!];
    return `${direction}|${metric.name}|${a.toString(36)}.${b.toString(36)}`;
  };
  const evaluate = async (extra: readonly (readonly number[])[], layer: number): Promise<Float64Array> => {
    const out = new Float64Array(extra.length);
    const keys = memo ? extra.map(keyOf) : [];
    const todo = extra.map((_, k) => k).filter((k) => !memo?.values.has(keys[k]!));
    reused += extra.length - todo.length;
    if (todo.length > 0) {
      const prefix = Math.min(layer, minPrunedLayer);
      evaluations += todo.length;
      const masks = buildMasks(
        todo.map((k) => extra[k]!),
        prefix,
      );
      const got = await runs.meanScores(masks, { direction, metric, prefixLayer: direction === 'denoising' ? prefix : undefined, maxRows: opts.maxRows });
      todo.forEach((k, i) => {
        out[k] = got[i]!;
        memo?.values.set(keys[k]!, got[i]!);
      });
    }
    if (memo) extra.forEach((_, k) => (out[k] = memo.values.get(keys[k]!)!));
    return out;
  };
  const value = (s: number): number => (isKl ? -s : s);
  const passes0 = runs.passes;

  const log: AcdcDecision[] = [];
  const scores = new Float32Array(SR).fill(NaN);
  const nodeScores = level === 'node' ? new Float32Array(S).fill(NaN) : undefined;
  let nPruned = 0;
  let dropped = 0;
  /** Applies one decision to the state (a new one, or one restored from a checkpoint). */
  const apply = (u: Unit, d: AcdcDecision): void => {
    log.push(d);
    for (const c of u.cells) scores[c] = d.score;
    if (nodeScores) nodeScores[u.sender] = d.score;
    if (d.pruned) {
      for (const c of u.cells) {
        if (memo && !pruned[c]) [h1, h2] = [h1 ^ w1[c]!, h2 ^ w2[c]!];
        pruned[c] = 1;
      }
      minPrunedLayer = Math.min(minPrunedLayer, u.layer);
      nPruned++;
    }
  };

  const checkpoint = opts.checkpoint;
  const key = checkpoint ? acdcCheckpointKey({ tau, metric: metric.name, direction, level, rule, nSenders: S, nReceivers: R, initialPruned: pruned, order: units.map((u) => u.name) }) : '';
  const stored = checkpoint ? await checkpoint.load() : undefined;
  const restorable = stored && resumeProblem(stored, key, units, total, pruned);
  if (stored && restorable !== undefined) opts.progress?.note?.(`stored ACDC progress not used (${restorable}); starting the threshold afresh`);
  const resume = stored && restorable === undefined ? stored : undefined;

  let current: number;
  let initialScore: number;
  if (resume) {
    resume.decisions.forEach((d, j) => apply(units[j]!, d));
    current = resume.current;
    initialScore = resume.initial;
    opts.progress?.note?.(`resumed after ${log.length} of ${total} decisions (${log.length - nPruned} ${level === 'node' ? 'nodes' : 'edges'} kept)`);
  } else {
    current = (await evaluate([[]], nLayers))[0]!;
    initialScore = current;
  }
  const initialSeconds = resume ? 0 : (performance.now() - t0) / 1000;
  const initialMetric = value(initialScore);
  const resumed = log.length;
  /** Decisions the checkpoint holds (written by this run or restored). */
  let saved = resume ? log.length : 0;
  let savedAt = performance.now();
  const save = async (): Promise<void> => {
    if (!checkpoint || saved === log.length) return;
    const progress: AcdcProgress = { key, initial: initialScore, current, decisions: log, pruned };
    await checkpoint.save(progress, saved);
    saved = log.length;
    savedAt = performance.now();
  };
  const everyMs = (checkpoint?.everySeconds ?? 1) * 1000;
  const predict = (): boolean => (speculation === 'pruned' ? true : speculation === 'kept' ? false : 2 * (nPruned + 1) >= log.length + 2);

  const unreadNode = unreadNodes(graph, isEdge, pruned, direction === 'noising' && level === 'edge');
  let unread = 0;
  let i = log.length;
  while (i < total) {
    // An edge into a node whose output nothing reads changes nothing: decided without a run.
    if (unreadNode(units[i]!)) {
      const u = units[i]!;
      apply(u, { name: u.name, sender: u.sender, receiver: u.receiver, before: value(current), after: value(current), score: 0, pruned: 0 < tau });
      unread++;
      i++;
      opts.progress?.step(i, total, `${i - nPruned} ${level === 'node' ? 'nodes' : 'edges'} kept`);
      continue;
    }
    // A batch: up to K candidates reaching the same layer (a pass starts at the earliest one), up to
    // the first that decisions made in the batch could make unread (edges into a node that is the
    // sender of an earlier candidate): every candidate in it is read, before and after.
    const layer = units[i]!.layer;
    const batch: Unit[] = [];
    const senders = new Set<number>();
    for (let j = i; j < total && batch.length < K && units[j]!.layer === layer; j++) {
      const u = units[j]!;
      // (The sender test first: a node's status is worked out only once its outgoing edges are decided.)
      if (j > i && (senders.has(ownerOf(graph, u.receiver ?? graph.logitsReceiver)) || unreadNode(u))) break;
      batch.push(u);
      senders.add(u.sender);
    }
    const predicted = batch.map(() => predict());
    const extra: number[][] = [];
    const assumed: number[] = [];
    batch.forEach((u, j) => {
      extra.push([...assumed, ...u.cells]);
      if (predicted[j]) assumed.push(...u.cells);
    });
    const tried = await evaluate(extra, layer);
    let used = 0;
    for (let j = 0; j < batch.length; j++) {
      const u = batch[j]!;
      const after = tried[j]!;
      const damage = current - after;
      const prune = rule === 'signed' ? damage < tau : Math.abs(damage) < tau;
      apply(u, { name: u.name, sender: u.sender, receiver: u.receiver, before: value(current), after: value(after), score: damage, pruned: prune });
      if (prune) current = after;
      used++;
      opts.progress?.step(i + used, total, `${i + used - nPruned} ${level === 'node' ? 'nodes' : 'edges'} kept`);
      if (prune !== predicted[j]) break; // later results assumed the other outcome
    }
    dropped += batch.length - used;
    i += used;
    if (performance.now() - savedAt >= everyMs) await save();
  }
  await save();

  const inCircuit = new Uint8Array(SR);
  let nEdges = 0;
  for (let c = 0; c < SR; c++) {
    if (isEdge[c] && !pruned[c]) {
      inCircuit[c] = 1;
      nEdges++;
    }
  }
  return {
    tau,
    metric: metric.name,
    direction,
    level,
    rule,
    graph,
    scores,
    inCircuit,
    nodeScores,
    nEdges,
    log,
    initialMetric,
    finalMetric: value(current),
    complete: total === units.length,
    stats: { evaluations, dropped, reused, passes: runs.passes - passes0, seconds: (performance.now() - t0) / 1000, initialSeconds, resumed, unread },
  };
}

/** The sender whose receiver r is (a head's q, k or v input, an MLP's input); -1 for the logits. */
function ownerOf(graph: ComponentGraph, r: number): number {
  const node = graph.receivers[r]!;
  if (node.kind === 'logits') return -1;
  return node.kind === 'mlp' ? graph.mlpSender(node.layer) : graph.headSender(node.layer, node.head);
}

/**
 * Whether an edge unit goes into a node whose output reaches the logits by no kept edge (noising:
 * a pruned edge carries the corrupted run's value whatever the node computes), so that trying it
 * cannot move the metric. A node's status is final once ACDC visits the edges into it: its own
 * outgoing edges and everything downstream of them were decided before (reverse topological
 * order), so it is worked out once, from the pruned set at that moment. `enabled` false: never.
 */
function unreadNodes(graph: ComponentGraph, isEdge: Uint8Array, pruned: Uint8Array, enabled: boolean): (u: Unit) => boolean {
  const R = graph.nReceivers;
  const read = new Map<number, boolean>();
  const isRead = (s: number): boolean => {
    let known = read.get(s);
    if (known === undefined) {
      known = false;
      for (let r = 0; r < R && !known; r++) {
        if (!isEdge[s * R + r] || pruned[s * R + r]) continue;
        const owner = ownerOf(graph, r);
        known = owner < 0 || isRead(owner);
      }
      read.set(s, known);
    }
    return known;
  };
  return (u) => enabled && u.receiver !== undefined && ownerOf(graph, u.receiver) >= 0 && !isRead(ownerOf(graph, u.receiver));
}

/** Why stored progress cannot continue this run (undefined: it can). */
function resumeProblem(p: AcdcProgress, key: string, units: readonly Unit[], total: number, startPruned: Uint8Array): string | undefined {
  if (p.key !== key) return 'stored under other settings';
  if (p.decisions.length > total) return `${p.decisions.length} decisions stored, the run makes ${total}`;
  if (p.pruned.length !== startPruned.length) return `pruned set of ${p.pruned.length} cells, the graph has ${startPruned.length}`;
  const expected = startPruned.slice();
  for (const [j, d] of p.decisions.entries()) {
    const u = units[j]!;
    if (d.name !== u.name || d.sender !== u.sender || d.receiver !== u.receiver) return `decision ${j} is ${d.name}, the visiting order has ${u.name}`;
    if (d.pruned) for (const c of u.cells) expected[c] = 1;
  }
  if (expected.some((x, c) => x !== p.pruned[c])) return 'its pruned set does not match its decisions';
  return undefined;
}

/** Independent ACDC runs for each threshold, sharing the experiment and a memo of evaluated configurations. */
export async function acdcSweep(runs: Experiment, taus: readonly number[], opts: Omit<AcdcOptions, 'tau'> = {}): Promise<AcdcResult[]> {
  const memo = opts.memo ?? new AcdcMemo();
  const out: AcdcResult[] = [];
  for (const tau of taus) out.push(await acdc(runs, { ...opts, tau, memo }));
  return out;
}

/** The edges of a result's circuit, in the graph's edge order. */
export function circuitEdges(result: Pick<AcdcResult, 'graph' | 'inCircuit'>): Edge[] {
  const R = result.graph.nReceivers;
  return [...result.graph.edges()].filter((e) => result.inCircuit[e.sender * R + e.receiver] === 1);
}

/** The result as a Circuit (method 'acdc' or 'acdc-nodes', threshold tau; the run's facts in meta.extra). */
export function acdcCircuit(result: AcdcResult, meta: Partial<CircuitMetaInit> = {}): Circuit {
  return circuitFromDense(result, {
    method: result.level === 'node' ? 'acdc-nodes' : 'acdc',
    ...meta,
    extra: {
      rule: result.rule,
      initialMetric: result.initialMetric,
      finalMetric: result.finalMetric,
      decisions: result.log.length,
      complete: result.complete,
      ...meta.extra,
    },
  });
}

// ---- the registry methods (acdc here, acdc-nodes in acdc-nodes.ts) ----

/** Attribution-seeded ACDC: only the `top` edges by |score| of `method` are visited; the rest start pruned. */
export interface AcdcCandidates {
  readonly method: AttributionMethod;
  readonly top: number;
  /** Interpolation steps of eap-ig-inputs. */
  readonly steps: number;
}

/** Settings of an ACDC threshold sweep: one unit of work (one circuit) per threshold. */
export interface AcdcSweepSettings {
  readonly thresholds: readonly number[];
  readonly metric: Metric;
  readonly direction: Direction;
  readonly candidates?: AcdcCandidates;
}

/**
 * [S * R]: every edge outside the top `top` by |score| of the attribution (dead ends of that cut
 * dropped too, as they cannot matter to a circuit), with the same metric and direction as ACDC's.
 */
export async function candidatePruned(exp: Experiment, c: AcdcCandidates, metric: Metric, direction: Direction): Promise<Uint8Array> {
  const graph = exp.model.graph;
  const scores = await attributionScores(exp, c.method, { metric, direction, steps: c.steps });
  const kept = cutScores(graph, scores, { topN: c.top });
  const pruned = new Uint8Array(kept.length);
  for (const e of graph.edges()) {
    const i = e.sender * graph.nReceivers + e.receiver;
    pruned[i] = kept[i] === 1 ? 0 : 1;
  }
  return pruned;
}

/** The unit key of threshold tau. */
export const thresholdUnit = (tau: number): string => `tau:${tau}`;

/** ACDC at one level as a registry method: the experiment's runs are prepared once per process and thresholds share a memo. */
export function acdcMethod(name: DiscoveryMethod, level: 'edge' | 'node'): Method<AcdcSweepSettings, AcdcResult> {
  return {
    name,
    units: (_exp, s) => s.thresholds.map(thresholdUnit),
    check: (exp, s) => checkMetrics(exp.dataset, [s.metric]),
    async open(exp, s): Promise<MethodSession<AcdcResult>> {
      for (const g of exp.groups) await exp.runsOf(g);
      // One memo per sweep: its configuration hashes assume the same starting pruned set.
      const memo = new AcdcMemo();
      const initialPruned = s.candidates ? await candidatePruned(exp, s.candidates, s.metric, s.direction) : undefined;
      return {
        run(unit, progress, checkpoint) {
          const tau = s.thresholds.find((t) => thresholdUnit(t) === unit);
          if (tau === undefined) throw new Error(`${name}: no unit ${unit} in this sweep`);
          return acdc(exp, { tau, metric: s.metric, direction: s.direction, level, memo, progress, checkpoint, ...(initialPruned ? { initialPruned } : {}) });
        },
      };
    },
  };
}

/** Edge-level ACDC. */
export const acdcEdges = acdcMethod('acdc', 'edge');
