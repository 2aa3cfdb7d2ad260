// `patchwise show <run>`: one run's settings and what it detected (or, when it detected nothing,
// its largest effects); for a patching run with an AtP / exact counterpart, how the two agree.
import type { CommandModule } from 'yargs';
import { UserError } from '../../core/errors.js';
import { isJsonObject } from '../../store/json.js';
import { parseRunRef } from '../../store/run-ref.js';
import { Store } from '../../store/store.js';
import type { Detection } from '../../core/vocabulary.js';
import type { MeanEffect, RunDetail } from '../../store/types.js';
import type { AgreementRecord } from '../../store/agreements.js';
import { AGREEMENT_COLUMNS, AGREEMENT_LEGEND, agreementCells } from '../format-agreement.js';
import { formatComponent, formatNumber, formatSeconds, formatTable, formatValue, formatZ } from '../format-table.js';

export function runHeader(r: RunDetail): string {
  const lines: [string, string][] = [
    ['run', `${r.id}  (pipeline ${r.pipeline}, key ${r.key})`],
    ['status', r.attempts > 1 ? `${r.status} after ${r.attempts} attempts` : r.status],
    ['model', `${r.model} (${r.architecture}, ${r.modelPath}, fingerprint ${r.modelFingerprint})`],
    ['task', `${r.task}${r.pairs === null ? '' : ` (${r.pairs} pairs)`}, dataset fingerprint ${r.datasetFingerprint}`],
    ['code version', r.unitCodeVersions.some((v) => v !== r.codeVersion) ? `${r.codeVersion} (units by ${r.unitCodeVersions.join(', ')})` : r.codeVersion],
    ['created', r.createdAt],
    ['finished', r.finishedAt ?? '-'],
    ['seconds', `${formatSeconds(r.seconds)} (${r.units} unit${r.units === 1 ? '' : 's'}, ${formatSeconds(r.unitSeconds)} s in units, ${r.effects} effects)`],
  ];
  if (r.error !== null) lines.push(['error', r.error]);
  const width = Math.max(...lines.map(([k]) => k.length));
  const out = lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  out.push('', 'settings');
  const settings = isJsonObject(r.settings) ? Object.entries(r.settings) : [['value', r.settings] as const];
  if (settings.length === 0) out.push('  (none)');
  const sw = Math.max(0, ...settings.map(([k]) => k.length));
  for (const [k, v] of settings) out.push(`  ${k.padEnd(sw)}  ${formatValue(v)}`);
  return out.join('\n');
}

export function detectionsTable(rows: readonly Detection[]): string {
  const sorted = [...rows].sort((a, b) => Math.abs(b.zscore) - Math.abs(a.zscore));
  return formatTable(
    ['component', { header: 'mean effect', align: 'right' }, { header: 'z-score', align: 'right' }, { header: 'sign', align: 'right' }],
    sorted.map((d) => [formatComponent(d), formatNumber(d.mean), formatZ(d.zscore), d.sign > 0 ? '+' : '-']),
  );
}

export function topEffectsTable(effects: readonly MeanEffect[], top: number): string {
  const sorted = [...effects].sort((a, b) => Math.abs(b.mean) - Math.abs(a.mean)).slice(0, top);
  return formatTable(
    ['component', 'kind', { header: 'mean effect', align: 'right' }, { header: 'std', align: 'right' }, { header: 'prompts', align: 'right' }],
    sorted.map((e) => [formatComponent(e), e.kind, formatNumber(e.mean), formatNumber(e.std), String(e.n)]),
  );
}

/** Every component's mean effect, largest |mean| first, with its detection where it has one. */
export function allEffectsTable(effects: readonly MeanEffect[], detected: readonly Detection[]): string {
  const key = (c: MeanEffect | Detection): string => JSON.stringify([c.component, c.layer, c.head, c.position, c.window]);
  const z = new Map(detected.map((d) => [key(d), d.zscore]));
  const sorted = [...effects].sort((a, b) => Math.abs(b.mean) - Math.abs(a.mean));
  return formatTable(
    ['component', 'kind', { header: 'mean effect', align: 'right' }, { header: 'std', align: 'right' }, { header: 'prompts', align: 'right' }, { header: 'detected z', align: 'right' }],
    sorted.map((e) => [formatComponent(e), e.kind, formatNumber(e.mean), formatNumber(e.std), String(e.n), z.has(key(e)) ? formatZ(z.get(key(e))!) : '']),
  );
}

/** The AtP / exact agreements a run takes part in, one row per other run. */
export function agreementsReport(runId: number, records: readonly AgreementRecord[]): string {
  const rows = records.map((r) => {
    const exact = r.exactRunId === runId;
    return [exact ? 'exact' : 'AtP', `${r.estimateRunId === runId ? r.exactRunId : r.estimateRunId} (${exact ? 'AtP' : 'exact'})`, ...agreementCells(r.agreement)];
  });
  return [`agreement of attribution (AtP) with exact patching (${records.length})`, formatTable(['this run', 'other run', ...AGREEMENT_COLUMNS], rows), AGREEMENT_LEGEND].join('\n');
}

interface ShowArgs {
  run: string;
  db: string;
  top: number;
  all: boolean;
  json: boolean;
}

export const showCommand: CommandModule<object, ShowArgs> = {
  command: 'show <run>',
  describe: "One run's settings and detected components (the top components by |mean effect| when none is detected; every component with --all)",
  builder: (y) =>
    y
      .positional('run', { type: 'string', demandOption: true, describe: 'run id, or run key (a unique prefix will do)' })
      .option('db', { type: 'string', default: 'patchwise.db', describe: 'results database' })
      .option('top', { type: 'number', default: 10, describe: 'components to list when nothing is detected' })
      .option('all', { type: 'boolean', default: false, describe: "list every component's mean effect (detected ones with their z-score)" })
      .option('json', { type: 'boolean', default: false, describe: 'print the run, its circuits, detections and effects as JSON' }),
  handler: async (argv) => {
    if (!Number.isInteger(argv.top) || argv.top < 1) throw new UserError(`--top must be a positive integer, got ${argv.top}`);
    const store = await Store.open(argv.db, { create: false });
    try {
      const run = await store.runs.get(parseRunRef(argv.run));
      const circuits = await store.circuits.list({ runId: run.id });
      const detected = await store.runs.detections(run.id);
      const agreements = await store.agreements.forRun(run.id);
      if (argv.json) {
        const effects = await store.runs.meanEffects(run.id);
        const sorted = [...effects].sort((a, b) => Math.abs(b.mean) - Math.abs(a.mean));
        // Without --all, the effects the text shows: none beside detections, else the top ones.
        const shown = argv.all ? sorted : detected.length > 0 || circuits.length > 0 ? [] : sorted.slice(0, argv.top);
        console.log(JSON.stringify({ run, circuits, detections: detected, effects: shown, totalEffects: effects.length, agreements }, null, 2));
        return;
      }
      console.log(runHeader(run));
      console.log('');
      if (agreements.length > 0) console.log(`${agreementsReport(run.id, agreements)}\n`);
      if (circuits.length > 0) {
        // A discovery run: one circuit per threshold.
        const detail = run.detail?.stage === 'discovery' ? run.detail : null;
        const auc = detail?.auc ?? null;
        console.log(`circuits (${circuits.length})${typeof auc === 'number' ? `, ROC-AUC against the ground truth ${formatNumber(auc)}` : ''}`);
        // Precision, recall and the edge scores' ROC-AUC of each circuit, where the run had a ground truth.
        const truth = new Map(detail?.circuits.flatMap((c) => (c.truth ? [[c.circuitId, c.truth] as const] : [])) ?? []);
        const truthColumns = truth.size > 0 ? ['precision', 'recall', 'ROC-AUC'] : [];
        // MIB's CPR and CMD of each circuit's scores, where discovery.mib stored them.
        const mibOf = (c: (typeof circuits)[number]): { cpr?: unknown; cmd?: unknown } => (typeof c.settings === 'object' && c.settings !== null && !Array.isArray(c.settings) ? c.settings : {});
        const withMib = circuits.some((c) => typeof mibOf(c).cpr === 'number');
        const num = (v: unknown): string => (typeof v === 'number' ? formatNumber(v) : '');
        console.log(
          formatTable(
            ['circuit', 'method', 'metric', 'tau', 'edges', 'faithfulness', ...truthColumns, ...(withMib ? ['CPR', 'CMD'] : [])],
            circuits.map((c) => {
              const t = truth.get(c.id);
              const scored = truthColumns.length > 0 ? [t?.precision, t?.recall, t?.auc].map((v) => formatNumber(v ?? null)) : [];
              return [
                String(c.id),
                c.method,
                c.metric ?? '',
                formatValue(c.threshold),
                String(c.size),
                formatNumber(c.faithfulness),
                ...scored,
                ...(withMib ? [num(mibOf(c).cpr), num(mibOf(c).cmd)] : []),
              ];
            }),
          ),
        );
        if (withMib) console.log('CPR: area under faithfulness at 0.1 %..100 % of edges ranked by score (higher is better); CMD: area under |1 - faithfulness|, ranked by |score| (lower is better)');
        if (!argv.all) return;
        console.log('');
      }
      const effects = await store.runs.meanEffects(run.id);
      if (argv.all) {
        if (effects.length === 0) {
          console.log(run.status === 'done' ? 'no effects stored' : `no effects stored yet (run is ${run.status})`);
          return;
        }
        console.log(`every component (${effects.length}) by |mean effect|; ${detected.length} detected`);
        console.log(allEffectsTable(effects, detected));
        return;
      }
      if (detected.length > 0) {
        console.log(`detected components (${detected.length})`);
        console.log(detectionsTable(detected));
        return;
      }
      if (effects.length === 0) {
        console.log(run.status === 'done' ? 'no effects stored' : `no effects stored yet (run is ${run.status})`);
        return;
      }
      const why = run.status === 'done' ? 'nothing detected' : `no detections (run is ${run.status})`;
      console.log(`${why}; top ${Math.min(argv.top, effects.length)} of ${effects.length} components by |mean effect| (--all lists every one)`);
      console.log(topEffectsTable(effects, argv.top));
    } finally {
      await store.close();
    }
  },
};
