// `patchwise compare <runA> <runB>`: what two runs disagree on: their settings, which components
// each detected, and, for an AtP run and its exact run, their stored agreement.
import type { CommandModule } from 'yargs';
import { diffSettings } from '../../circuits/compare.js';
import { flattenJson, type Json } from '../../store/json.js';
import { parseRunRef } from '../../store/run-ref.js';
import { Store } from '../../store/store.js';
import type { ComponentCoords, Detection } from '../../core/vocabulary.js';
import type { MeanEffect, RunDetail } from '../../store/types.js';
import type { AgreementRecord } from '../../store/agreements.js';
import { AGREEMENT_COLUMNS, AGREEMENT_LEGEND, agreementCells } from '../format-agreement.js';
import { formatComponent, formatNumber, formatTable, formatValue, formatZ } from '../format-table.js';

const coordKey = (c: ComponentCoords): string => JSON.stringify([c.component, c.layer, c.head, c.position, c.window]);

/** [setting, A's value, B's value] for every setting (dotted path) that differs, plus model and dataset. */
export function settingDifferences(a: RunDetail, b: RunDetail): [string, string, string][] {
  const flat = (r: RunDetail): Map<string, Json> => {
    const m = new Map(flattenJson(r.settings));
    // Model and dataset are run identity kept outside the settings; compare them too.
    m.set('(model)', `${r.model} ${r.modelFingerprint}`);
    m.set('(dataset)', `${r.task} ${r.datasetFingerprint}`);
    return m;
  };
  const show = (v: Json | undefined): string => (v === undefined ? '(absent)' : formatValue(v));
  return diffSettings(flat(a), flat(b)).map((d) => [d.field, show(d.a), show(d.b)]);
}

export interface DetectionComparison {
  readonly both: { a: Detection; b: Detection }[];
  readonly onlyA: Detection[];
  readonly onlyB: Detection[];
}

export function compareDetections(a: readonly Detection[], b: readonly Detection[]): DetectionComparison {
  const inB = new Map(b.map((d) => [coordKey(d), d]));
  const inA = new Map(a.map((d) => [coordKey(d), d]));
  const both: { a: Detection; b: Detection }[] = [];
  const onlyA: Detection[] = [];
  for (const d of a) {
    const other = inB.get(coordKey(d));
    if (other === undefined) onlyA.push(d);
    else both.push({ a: d, b: other });
  }
  const onlyB = b.filter((d) => !inA.has(coordKey(d)));
  const byZ = (x: Detection, y: Detection): number => Math.abs(y.zscore) - Math.abs(x.zscore);
  both.sort((x, y) => byZ(x.a, y.a));
  onlyA.sort(byZ);
  onlyB.sort(byZ);
  return { both, onlyA, onlyB };
}

/** The stored agreement of two runs (either one the exact side), if any. */
export function agreementOf(records: readonly AgreementRecord[], a: number, b: number): AgreementRecord | undefined {
  return records.find((r) => (r.exactRunId === a && r.estimateRunId === b) || (r.exactRunId === b && r.estimateRunId === a));
}

export function comparisonReport(
  a: RunDetail,
  b: RunDetail,
  detA: readonly Detection[],
  detB: readonly Detection[],
  meanA: readonly MeanEffect[],
  meanB: readonly MeanEffect[],
  agreement?: AgreementRecord,
): string {
  const A = `run ${a.id}`;
  const B = `run ${b.id}`;
  const out: string[] = [`${A} vs ${B}`, ''];

  const diffs = settingDifferences(a, b);
  if (diffs.length === 0) out.push('settings: identical');
  else out.push('settings that differ', formatTable(['setting', A, B], diffs));
  if (agreement !== undefined) {
    out.push('', `AtP (run ${agreement.estimateRunId}) against exact patching (run ${agreement.exactRunId})`, formatTable(AGREEMENT_COLUMNS, [agreementCells(agreement.agreement)]), AGREEMENT_LEGEND);
  }

  // The side that did not detect a component still has its mean effect, which says how far off it was.
  const means = (effects: readonly MeanEffect[]): Map<string, number> => new Map(effects.map((e) => [coordKey(e), e.mean]));
  const mA = means(meanA);
  const mB = means(meanB);
  const c = compareDetections(detA, detB);
  const headers = ['component', { header: `${A} mean`, align: 'right' as const }, { header: `${B} mean`, align: 'right' as const }];
  const zHeaders = [
    { header: `${A} z`, align: 'right' as const },
    { header: `${B} z`, align: 'right' as const },
  ];
  const section = (title: string, n: number, table: () => string): void => {
    out.push('', `${title} (${n})`);
    if (n > 0) out.push(table());
  };
  section('detected in both', c.both.length, () =>
    formatTable(
      [...headers, ...zHeaders],
      c.both.map(({ a: x, b: y }) => [formatComponent(x), formatNumber(x.mean), formatNumber(y.mean), formatZ(x.zscore), formatZ(y.zscore)]),
    ),
  );
  section(`only in ${A}`, c.onlyA.length, () =>
    formatTable(
      [...headers, { header: `${A} z`, align: 'right' }],
      c.onlyA.map((d) => [formatComponent(d), formatNumber(d.mean), formatNumber(mB.get(coordKey(d))), formatZ(d.zscore)]),
    ),
  );
  section(`only in ${B}`, c.onlyB.length, () =>
    formatTable(
      [...headers, { header: `${B} z`, align: 'right' }],
      c.onlyB.map((d) => [formatComponent(d), formatNumber(mA.get(coordKey(d))), formatNumber(d.mean), formatZ(d.zscore)]),
    ),
  );
  return out.join('\n');
}

/** The comparison as data, for --json. */
export function comparisonJson(a: RunDetail, b: RunDetail, detA: readonly Detection[], detB: readonly Detection[], agreement?: AgreementRecord): Record<string, unknown> {
  const c = compareDetections(detA, detB);
  return {
    a: a.id,
    b: b.id,
    settings: settingDifferences(a, b).map(([setting, valueA, valueB]) => ({ setting, a: valueA, b: valueB })),
    ...(agreement === undefined ? {} : { agreement }),
    detectedInBoth: c.both,
    onlyA: c.onlyA,
    onlyB: c.onlyB,
  };
}

export const compareCommand: CommandModule<object, { runA: string; runB: string; db: string; json: boolean }> = {
  command: 'compare <runA> <runB>',
  describe: "What two runs disagree on: differing settings, components detected by both, only one or only the other, and an AtP run's stored agreement with its exact run",
  builder: (y) =>
    y
      .positional('runA', { type: 'string', demandOption: true, describe: 'run id or key' })
      .positional('runB', { type: 'string', demandOption: true, describe: 'run id or key' })
      .option('db', { type: 'string', default: 'patchwise.db', describe: 'results database' })
      .option('json', { type: 'boolean', default: false, describe: 'print the comparison as JSON' }),
  handler: async (argv) => {
    const store = await Store.open(argv.db, { create: false });
    try {
      const a = await store.runs.get(parseRunRef(argv.runA));
      const b = await store.runs.get(parseRunRef(argv.runB));
      const [detA, detB, meanA, meanB] = await Promise.all([store.runs.detections(a.id), store.runs.detections(b.id), store.runs.meanEffects(a.id), store.runs.meanEffects(b.id)]);
      const agreement = agreementOf(await store.agreements.forRun(a.id), a.id, b.id);
      console.log(argv.json ? JSON.stringify(comparisonJson(a, b, detA, detB, agreement), null, 2) : comparisonReport(a, b, detA, detB, meanA, meanB, agreement));
    } finally {
      await store.close();
    }
  },
};
