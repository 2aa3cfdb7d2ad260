// The discovery stage of a pipeline: ACDC swept over thresholds for each (method, corruption,
// direction, metric), every circuit stored with its faithfulness, the faithfulness-vs-size curve,
// and ROC against the ground truth when the model has one (the planted model). Each threshold is a
// unit of the stage's run: its circuit is saved before the unit is marked done, so a re-run after a
// kill recomputes at most the threshold that was in progress.
import { createHash } from 'node:crypto';
import { UserError } from '../core/errors.js';
import { acdc, AcdcMemo, acdcCircuit } from '../methods/acdc.js';
import { faithfulness, randomBaseline, sweepRoc } from '../evaluation/evaluate.js';
import { PreparedRuns } from '../experiment/runs.js';
import { corruptionName } from '../core/vocabulary.js';
import { checkMetrics } from '../methods/node-patching.js';
import { getMetric } from '../experiment/metrics.js';
import { canonicalJson } from '../store/json.js';
import type { DiscoveredCircuitDetail, DiscoveryRunDetail, StageDetail } from '../store/stage-detail.js';
import { codeVersion } from './code-version.js';
import type { StageContext } from './run-pipeline.js';
import { datasetCorruption, type DiscoverySpec, expandDiscovery, type DiscoveryPoint } from './spec.js';

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

type StoredUnitDetail = DiscoveredCircuitDetail;

const discoveryDetail = (d: StageDetail | null): DiscoveryRunDetail | null => (d?.stage === 'discovery' ? d : null);

export async function runDiscovery(
  ctx: StageContext,
  spec: DiscoverySpec,
): Promise<DiscoveryResult[]> {
  const { pipeline, store, pm, runtime, modelId, log } = ctx;
  const out: DiscoveryResult[] = [];
  for (const point of expandDiscovery(pipeline)) {
    const full = ctx.dataset(datasetCorruption(pipeline, point.corruption));
    const dataset = spec.prompts === undefined ? full : { ...full, pairs: full.pairs.slice(0, spec.prompts) };
    const metric = getMetric(point.metric);
    const faithMetric = spec.faithfulnessMetric ? getMetric(spec.faithfulnessMetric) : undefined;
    const problems = checkMetrics(dataset, faithMetric ? [metric, faithMetric] : [metric]);
    if (problems.length > 0) throw new UserError(problems.map((p) => `${pipeline.file}: discovery: ${p}`).join('\n'));
    const datasetId = await ctx.datasetId(dataset);
    const corruption = point.corruption;
    const settings = {
      stage: 'discovery',
      task: pipeline.task.name,
      taskOptions: pipeline.task.options ?? {},
      method: point.method,
      corruption: corruptionName(corruption),
      ...(corruption.kind === 'gn' ? { gn: corruption.noise } : {}),
      direction: point.direction,
      metric: point.metric,
      faithfulnessMetric: spec.faithfulnessMetric ?? null,
      thresholds: spec.thresholds,
      prompts: dataset.pairs.length,
      model: pm.fingerprint,
      datasetId,
    };
    const key = createHash('sha256').update(canonicalJson(settings)).digest('hex').slice(0, 16);
    const opened = await store.runs.open({ pipeline: pipeline.name, key, modelId, datasetId, settings, codeVersion: codeVersion() });
    const label = `${point.method} ${corruptionName(point.corruption)} ${point.direction} ${point.metric}`;
    const done = new Map<number, StoredUnitDetail>();
    const detail = discoveryDetail((await store.runs.get(opened.id)).detail);
    for (const c of detail?.circuits ?? []) done.set(c.tau, c);
    const completed = opened.status === 'done' ? null : await store.runs.completedUnits(opened.id);
    if (completed !== null) {
      // Circuits of thresholds finished by an interrupted invocation are in the store already.
      for (const c of await store.circuits.list({ runId: opened.id })) {
        if (c.threshold !== null && completed.has(`tau:${c.threshold}`) && c.faithfulness !== null) {
          done.set(c.threshold, { tau: c.threshold, circuitId: c.id, size: c.size, faithfulness: c.faithfulness });
        }
      }
    }

    if (opened.status !== 'done') {
      const t0 = performance.now();
      const runs = await PreparedRuns.prepare(runtime, dataset, { corruption, batchSize: spec.batch });
      const memo = new AcdcMemo();
      for (const tau of spec.thresholds) {
        if (done.has(tau)) continue;
        const t1 = performance.now();
        const result = await acdc(runs, { tau, metric, direction: point.direction, level: point.method === 'acdc-nodes' ? 'node' : 'edge', memo });
        const f = await faithfulness(runs, [result.inCircuit], { direction: point.direction, metric: faithMetric });
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
        if (spec.randomBaselines > 0 && result.nEdges > 0) {
          const rb = await randomBaseline(runs, result.nEdges, { samples: spec.randomBaselines, seed: 0, direction: point.direction, metric: faithMetric });
          randomFaithfulness = rb.mean;
          circuit = circuit.withMeta({ extra: { ...circuit.meta.extra, randomBaseline: { mean: rb.mean, std: rb.std, samples: spec.randomBaselines } } });
        }
        const circuitId = await store.circuits.save({ pipeline: pipeline.name, key: `${key}:tau=${tau}`, runId: opened.id, circuit, settings: { ...settings, tau } });
        await store.runs.saveUnit(opened.id, `tau:${tau}`, [], (performance.now() - t1) / 1000);
        done.set(tau, { tau, circuitId, size: result.nEdges, faithfulness: f.faithfulness[0] ?? NaN, randomFaithfulness });
        log(`${label}: tau ${tau}: ${result.nEdges} edges, faithfulness ${(f.faithfulness[0] ?? NaN).toFixed(3)} (${((performance.now() - t1) / 1000).toFixed(1)} s)`);
      }
      const circuits = spec.thresholds.map((t) => done.get(t)!);
      await store.curves.save({
        pipeline: pipeline.name, key, kind: 'faithfulness', runId: opened.id,
        points: circuits.map((c) => ({ threshold: c.tau, size: c.size, faithfulness: c.faithfulness })),
      });
      let auc: number | undefined;
      if (pm.groundTruth) {
        const masks = await Promise.all(circuits.map(async (c) => ({ inCircuit: (await store.circuits.load(c.circuitId)).mask, tau: c.tau })));
        const roc = sweepRoc(runtime.graph, masks, pm.groundTruth);
        auc = roc.auc;
        await store.curves.save({
          pipeline: pipeline.name, key, kind: 'roc', runId: opened.id,
          points: roc.points,
        });
      }
      await store.runs.finish(opened.id, { seconds: (performance.now() - t0) / 1000, detail: { stage: 'discovery', circuits, auc: auc ?? null } });
    }
    const final = discoveryDetail((await store.runs.get(opened.id)).detail);
    if (final === null) throw new Error(`discovery run ${opened.id} finished without a discovery detail`);
    out.push({ point, runId: opened.id, circuits: final.circuits, auc: final.auc ?? undefined });
  }
  return out;
}
