// The discovery stage: ACDC swept over thresholds, or edge attribution (eap, eap-ig-inputs,
// clean-corrupted) cut at several sizes or |score| thresholds, for each (method, corruption,
// direction, metric), every circuit stored with its faithfulness, the faithfulness-vs-size curve,
// and ROC against the ground truth when the model has one (the planted model). Each threshold (cut)
// is a unit of the stage point's one run: its circuit is saved before the unit is marked done, so a
// re-run after a kill recomputes at most the thresholds that were in progress, and an ACDC threshold
// in progress continues after its last checkpointed decision (acdc-checkpoint.ts). ACDC's ROC-AUC is the
// area under its sweep's points; an attribution's is the rank AUC of its edge scores (every edge is
// scored, so the whole ranking is the method's answer).
import type { Circuit, CircuitMetaInit } from '../circuits/circuit.js';
import { corruptionName, isAttributionMethod } from '../core/vocabulary.js';
import { acdcCircuit, thresholdUnit } from '../methods/acdc.js';
import { attributionCircuit, type AttributionSelection } from '../methods/attribution.js';
import type { AcdcCheckpointer } from '../methods/acdc-checkpoint.js';
import type { Method, MethodSession, ProgressReporter } from '../methods/method.js';
import { METHODS } from '../methods/registry.js';
import { edgeScoreAuc, faithfulness, randomBaseline, sweepRoc } from '../evaluation/evaluate.js';
import { truthFor, truthScores } from '../evaluation/ground-truth.js';
import { type MibEvaluation, mibEvaluate } from '../evaluation/mib.js';
import { checkMetrics, type Experiment } from '../experiment/experiment.js';
import { getMetric } from '../experiment/metrics.js';
import type { StagePoint } from './driver.js';
import type { StageContext, StagePlan } from './run-pipeline.js';
import { type DiscoveryPoint, expandDiscovery } from './spec.js';

export interface DiscoveredCircuit {
  /** ACDC's tau, or an attribution's |score| cut (for a top-n cut: the n-th largest |score|). */
  readonly tau: number;
  /** The edge count of an attribution's top-n cut. */
  readonly topN?: number;
  readonly circuitId: number;
  readonly size: number;
  readonly faithfulness: number;
  readonly randomFaithfulness?: number;
  /** Against the ground truth, where one is known (null: undefined, e.g. recall without true edges). */
  readonly truth?: { readonly precision: number | null; readonly recall: number | null; readonly auc: number | null };
  /** MIB's CPR and CMD of the circuit's edge scores (discovery.mib). */
  readonly cpr?: number;
  readonly cmd?: number;
}

export interface DiscoveryResult {
  readonly point: DiscoveryPoint;
  readonly runId: number;
  readonly circuits: readonly DiscoveredCircuit[];
  /** Area under the ROC of the threshold sweep against the ground truth, where one is known. */
  readonly auc?: number;
}

/** One unit's circuit before evaluation, from whichever method. */
interface Cut {
  readonly tau: number;
  readonly topN?: number;
  readonly inCircuit: Uint8Array;
  readonly nEdges: number;
  circuit(meta: Partial<CircuitMetaInit>): Circuit;
}

/** One threshold's outcome, ready to store. */
interface ThresholdOutput {
  readonly unit: string;
  readonly cut: Cut;
  readonly circuit: Circuit;
  readonly randomFaithfulness?: number;
  readonly mib?: MibEvaluation;
}

interface DiscoverySession {
  readonly run: (unit: string, progress: ProgressReporter, checkpoint: AcdcCheckpointer) => Promise<Cut>;
  readonly exp: Experiment;
}

/** The n-th largest |score| over the graph's edges (the threshold equivalent to a top-n cut). */
function nthLargest(scores: Float32Array, graph: Experiment['model']['graph'], n: number): number {
  const R = graph.nReceivers;
  const a = [...graph.edges()].map((e) => Math.abs(scores[e.sender * R + e.receiver]!)).sort((x, y) => y - x);
  return a[Math.min(n, a.length) - 1] ?? 0;
}

/** What discovery needs of a method: its units, its data checks, and a session that cuts each unit into a circuit. */
interface CutSource {
  readonly units: readonly string[];
  readonly check: () => readonly string[];
  readonly open: () => Promise<DiscoverySession['run']>;
}

/** A registry method's units, checks and session, with each unit's output turned into a cut (how ACDC and attribution differ). */
function unitsToCuts<Settings, Output>(exp: Experiment, method: Method<Settings, Output, MethodSession<Output>>, settings: Settings, toCut: (output: Output) => Cut): CutSource {
  return {
    units: method.units(exp, settings),
    check: () => method.check(exp, settings),
    open: async (): Promise<DiscoverySession['run']> => {
      const session = await method.open(exp, settings);
      return async (unit, progress, checkpoint) => toCut(await session.run(unit, progress, checkpoint));
    },
  };
}

export function discoveryPoints(ctx: StageContext): StagePlan<DiscoveryResult[]> {
  const { pipeline, pm, runtime } = ctx;
  const spec = pipeline.discovery;
  const grid = spec ? expandDiscovery(pipeline) : [];
  const points = grid.map((point): StagePoint<DiscoverySession, ThresholdOutput> => {
    const s = spec!;
    const corruption = point.corruption;
    const full = ctx.dataset(corruption);
    const dataset = s.prompts === undefined ? full : { ...full, pairs: full.pairs.slice(0, s.prompts) };
    const exp = ctx.experiment(dataset, corruption, s.batch);
    const metric = getMetric(point.metric);
    const faithMetric = s.faithfulnessMetric ? getMetric(s.faithfulnessMetric) : undefined;
    const attribution = isAttributionMethod(point.method);
    // discovery.candidates seeds edge-level ACDC only.
    const seeded = point.method === 'acdc' && s.candidates !== undefined;
    const selection: AttributionSelection = s.edges ? { kind: s.selection, counts: s.edges, signed: s.signed } : { kind: 'threshold', thresholds: s.thresholds, signed: s.signed };
    // The method's units, checks and cuts; ACDC and attribution differ only in how a unit becomes a circuit.
    const m = isAttributionMethod(point.method)
      ? unitsToCuts(exp, METHODS[point.method], { metric, direction: point.direction, steps: s.steps, selection }, (r) => ({
          tau: r.tau ?? nthLargest(r.scores, r.graph, r.topN ?? 1),
          topN: r.topN,
          inCircuit: r.inCircuit,
          nEdges: r.nEdges,
          circuit: (meta) => attributionCircuit(r, meta),
        }))
      : (() => {
          const extra = seeded ? { candidates: { ...s.candidates!, steps: s.steps } } : {};
          return unitsToCuts(exp, METHODS[point.method as 'acdc' | 'acdc-nodes'], { thresholds: s.thresholds, metric, direction: point.direction, ...extra }, (r) => ({
            tau: r.tau,
            inCircuit: r.inCircuit,
            nEdges: r.nEdges,
            circuit: (meta) => acdcCircuit(r, { ...meta, threshold: r.tau, extra: { ...meta.extra, ...extra } }),
          }));
        })();
    const stored = {
      task: pipeline.task.name,
      taskOptions: pipeline.task.options ?? {},
      method: point.method,
      corruption: corruptionName(corruption),
      ...(corruption.kind === 'gn' ? { gn: corruption.noise } : {}),
      direction: point.direction,
      metric: point.metric,
      faithfulnessMetric: s.faithfulnessMetric ?? null,
      thresholds: s.thresholds,
      ...(attribution ? { steps: s.steps, edges: s.edges ?? null, ...(s.selection !== 'top-n' ? { selection: s.selection } : {}), ...(s.signed ? { signed: true } : {}) } : {}),
      prompts: dataset.pairs.length,
      batch: s.batch,
      randomBaselines: s.randomBaselines,
      ...(s.mib ? { mib: true } : {}),
      ...(seeded ? { candidates: { ...s.candidates!, steps: s.steps } } : {}),
    };
    // Attribution cuts of one run share their scores: MIB-evaluate each distinct score vector once.
    const mibByScores = new Map<string, MibEvaluation>();
    return {
      close: () => exp.release(),
      stage: 'discovery',
      label: `${point.method} ${corruptionName(corruption)} ${point.direction} ${point.metric}`,
      dataset,
      runs: [stored],
      units: m.units,
      check: () => [...m.check(), ...(faithMetric ? checkMetrics(dataset, [faithMetric]) : [])].map((p) => `discovery: ${p}`),
      open: async () => ({ run: await m.open(), exp }),
      async compute(session, unit, progress, checkpoint) {
        const cut = await session.run(unit, progress, checkpoint);
        const f = await faithfulness(exp, [cut.inCircuit], { direction: point.direction, metric: faithMetric });
        let circuit = cut.circuit({
          metric: point.metric,
          corruption: corruptionName(corruption),
          direction: point.direction,
          model: { fingerprint: pm.fingerprint, name: pm.model.config.name, dModel: pm.model.config.dModel },
          faithfulness: f.faithfulness[0] ?? null,
          extra: { faithfulnessMetric: f.metric, full: f.full, empty: f.empty },
        });
        let randomFaithfulness: number | undefined;
        if (s.randomBaselines > 0 && cut.nEdges > 0) {
          const rb = await randomBaseline(exp, cut.nEdges, { samples: s.randomBaselines, seed: 0, direction: point.direction, metric: faithMetric });
          randomFaithfulness = rb.mean;
          circuit = circuit.withMeta({ extra: { ...circuit.meta.extra, randomBaseline: { mean: rb.mean, std: rb.std, samples: s.randomBaselines } } });
        }
        let mib: MibEvaluation | undefined;
        if (s.mib) {
          const scoresKey = Buffer.from(circuit.scores.buffer, circuit.scores.byteOffset, circuit.scores.byteLength).toString('base64');
          mib = mibByScores.get(scoresKey) ?? (await mibEvaluate(exp, circuit.scores, { direction: point.direction, metric: faithMetric }));
          mibByScores.set(scoresKey, mib);
          circuit = circuit.withMeta({ extra: { ...circuit.meta.extra, mib: { cpr: mib.cpr, cmd: mib.cmd } } });
        }
        return { unit, cut, circuit, randomFaithfulness, mib };
      },
      async save(store, run, unit, o, seconds) {
        const key = attribution ? `${run.key}:${unit}` : `${run.key}:tau=${o.cut.tau}`;
        const extra = attribution ? { unit, topN: o.cut.topN ?? null } : {};
        const mibScores = o.mib ? { cpr: o.mib.cpr, cmd: o.mib.cmd } : {};
        const circuitId = await store.circuits.save({
          pipeline: pipeline.name,
          key,
          runId: run.id,
          circuit: o.circuit,
          settings: { ...stored, tau: o.cut.tau, ...extra, randomFaithfulness: o.randomFaithfulness ?? null, ...mibScores },
        });
        if (o.mib) {
          // Per circuit: threshold = fraction of edges kept, size = edges after pruning.
          await store.curves.save({ pipeline: pipeline.name, key, kind: 'mib-cpr', runId: run.id, circuitId, points: o.mib.signed });
          await store.curves.save({ pipeline: pipeline.name, key, kind: 'mib-cmd', runId: run.id, circuitId, points: o.mib.absolute });
        }
        await store.runs.saveUnit(run.id, unit, [], seconds);
      },
      async finish(store, runs, _session, seconds) {
        const run = runs[0]!;
        const stored = await store.circuits.list({ runId: run.id });
        // ACDC circuits are found by their tau, attribution cuts by their unit.
        const unitOf = (c: (typeof stored)[number]): string | undefined => (attribution ? (c.settings as { unit?: string }).unit : c.threshold === null ? undefined : thresholdUnit(c.threshold));
        const byUnit = new Map(stored.map((c) => [unitOf(c), c]));
        const circuits: DiscoveredCircuit[] = m.units.map((unit) => {
          const c = byUnit.get(unit);
          if (c === undefined) throw new Error(`discovery run ${run.id}: no stored circuit for ${unit}`);
          const set = c.settings as { randomFaithfulness?: number | null; tau?: number; topN?: number | null; cpr?: number; cmd?: number };
          const random = set.randomFaithfulness;
          return {
            tau: set.tau ?? c.threshold ?? NaN,
            circuitId: c.id,
            size: c.size,
            faithfulness: c.faithfulness ?? NaN,
            ...(typeof set.topN === 'number' ? { topN: set.topN } : {}),
            ...(typeof random === 'number' ? { randomFaithfulness: random } : {}),
            ...(typeof set.cpr === 'number' && typeof set.cmd === 'number' ? { cpr: set.cpr, cmd: set.cmd } : {}),
          };
        });
        await store.curves.save({
          pipeline: pipeline.name,
          key: run.key,
          kind: 'faithfulness',
          runId: run.id,
          points: circuits.map((c) => ({ threshold: c.tau, size: c.size, faithfulness: c.faithfulness })),
        });
        let auc: number | undefined;
        // The truth as this point's corruption sees it (zero ablation also sees position-only edges).
        const truth = pm.groundTruth && truthFor(pm.groundTruth, corruption);
        if (truth) {
          const loaded = await Promise.all(circuits.map((c) => store.circuits.load(c.circuitId)));
          const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
          circuits.forEach((c, i) => {
            const t = truthScores(loaded[i]!, truth);
            circuits[i] = { ...c, truth: { precision: finite(t.precision), recall: finite(t.recall), auc: finite(t.auc) } };
          });
          const masks = loaded.map((c, i) => ({ inCircuit: c.mask, tau: circuits[i]!.tau }));
          const roc = sweepRoc(runtime.graph, masks, truth);
          auc = attribution ? edgeScoreAuc(runtime.graph, loaded[0]!.scores, truth) : roc.auc;
          await store.curves.save({
            pipeline: pipeline.name,
            key: run.key,
            kind: 'roc',
            runId: run.id,
            points: roc.points,
          });
        }
        await store.runs.finish(run.id, { seconds, detail: { stage: 'discovery', circuits, auc: auc ?? null } });
      },
    };
  });
  return {
    points,
    async results(store, outcomes) {
      const out: DiscoveryResult[] = [];
      for (const [i, o] of outcomes.entries()) {
        const runId = o.runIds[0]!;
        const final = (await store.runs.get(runId)).detail;
        if (final?.stage !== 'discovery') throw new Error(`discovery run ${runId} finished without a discovery detail`);
        out.push({ point: grid[i]!, runId, circuits: final.circuits, auc: final.auc ?? undefined });
      }
      return out;
    },
  };
}
