// The discovery stage: ACDC swept over thresholds for each (method, corruption, direction, metric),
// every circuit stored with its faithfulness, the faithfulness-vs-size curve, and ROC against the
// ground truth when the model has one (the planted model). Each threshold is a unit of the stage
// point's one run: its circuit is saved before the unit is marked done, so a re-run after a kill
// recomputes at most the thresholds that were in progress.
import type { Circuit } from '../circuits/circuit.js';
import { corruptionName } from '../core/vocabulary.js';
import { acdcCircuit, type AcdcResult, thresholdUnit } from '../methods/acdc.js';
import type { MethodSession } from '../methods/method.js';
import { METHODS } from '../methods/registry.js';
import { faithfulness, randomBaseline, sweepRoc } from '../evaluation/evaluate.js';
import { checkMetrics, type Experiment } from '../experiment/experiment.js';
import { getMetric } from '../experiment/metrics.js';
import type { StagePoint } from './driver.js';
import type { StageContext, StagePlan } from './run-pipeline.js';
import { type DiscoveryPoint, expandDiscovery } from './spec.js';

export interface DiscoveredCircuit {
  readonly tau: number;
  readonly circuitId: number;
  readonly size: number;
  readonly faithfulness: number;
  readonly randomFaithfulness?: number;
}

export interface DiscoveryResult {
  readonly point: DiscoveryPoint;
  readonly runId: number;
  readonly circuits: readonly DiscoveredCircuit[];
  /** Area under the ROC of the threshold sweep against the ground truth, where one is known. */
  readonly auc?: number;
}

/** One threshold's outcome, ready to store. */
interface ThresholdOutput {
  readonly tau: number;
  readonly result: AcdcResult;
  readonly circuit: Circuit;
  readonly randomFaithfulness?: number;
}

interface DiscoverySession {
  readonly acdc: MethodSession<AcdcResult>;
  readonly exp: Experiment;
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
    const method = METHODS[point.method];
    const settings = { thresholds: s.thresholds, metric, direction: point.direction };
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
      prompts: dataset.pairs.length,
      batch: s.batch,
      randomBaselines: s.randomBaselines,
    };
    return {
      close: () => exp.release(),
      stage: 'discovery',
      label: `${point.method} ${corruptionName(corruption)} ${point.direction} ${point.metric}`,
      dataset,
      runs: [stored],
      units: method.units(exp, settings),
      check: () => [...method.check(exp, settings), ...(faithMetric ? checkMetrics(dataset, [faithMetric]) : [])].map((p) => `discovery: ${p}`),
      open: async () => ({ acdc: await method.open(exp, settings), exp }),
      async compute(session, unit, progress) {
        const result = await session.acdc.run(unit, progress);
        const tau = result.tau;
        const f = await faithfulness(exp, [result.inCircuit], { direction: point.direction, metric: faithMetric });
        let circuit = acdcCircuit(result, {
          metric: point.metric,
          corruption: corruptionName(corruption),
          direction: point.direction,
          threshold: tau,
          model: { fingerprint: pm.fingerprint, name: pm.model.config.name, dModel: pm.model.config.dModel },
          faithfulness: f.faithfulness[0] ?? null,
          extra: { faithfulnessMetric: f.metric, full: f.full, empty: f.empty },
        });
        let randomFaithfulness: number | undefined;
        if (s.randomBaselines > 0 && result.nEdges > 0) {
          const rb = await randomBaseline(exp, result.nEdges, { samples: s.randomBaselines, seed: 0, direction: point.direction, metric: faithMetric });
          randomFaithfulness = rb.mean;
          circuit = circuit.withMeta({ extra: { ...circuit.meta.extra, randomBaseline: { mean: rb.mean, std: rb.std, samples: s.randomBaselines } } });
        }
        return { tau, result, circuit, randomFaithfulness };
      },
      async save(store, run, unit, o, seconds) {
        await store.circuits.save({ pipeline: pipeline.name, key: `${run.key}:tau=${o.tau}`, runId: run.id, circuit: o.circuit, settings: { ...stored, tau: o.tau, randomFaithfulness: o.randomFaithfulness ?? null } });
        await store.runs.saveUnit(run.id, unit, [], seconds);
      },
      async finish(store, runs, _session, seconds) {
        const run = runs[0]!;
        const byTau = new Map((await store.circuits.list({ runId: run.id })).map((c) => [c.threshold, c]));
        const circuits: DiscoveredCircuit[] = s.thresholds.map((tau) => {
          const c = byTau.get(tau);
          if (c === undefined) throw new Error(`discovery run ${run.id}: no stored circuit for ${thresholdUnit(tau)}`);
          const random = (c.settings as { randomFaithfulness?: number | null }).randomFaithfulness;
          return { tau, circuitId: c.id, size: c.size, faithfulness: c.faithfulness ?? NaN, ...(typeof random === 'number' ? { randomFaithfulness: random } : {}) };
        });
        await store.curves.save({
          pipeline: pipeline.name, key: run.key, kind: 'faithfulness', runId: run.id,
          points: circuits.map((c) => ({ threshold: c.tau, size: c.size, faithfulness: c.faithfulness })),
        });
        let auc: number | undefined;
        if (pm.groundTruth) {
          const masks = await Promise.all(circuits.map(async (c) => ({ inCircuit: (await store.circuits.load(c.circuitId)).mask, tau: c.tau })));
          const roc = sweepRoc(runtime.graph, masks, pm.groundTruth);
          auc = roc.auc;
          await store.curves.save({
            pipeline: pipeline.name, key: run.key, kind: 'roc', runId: run.id,
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
