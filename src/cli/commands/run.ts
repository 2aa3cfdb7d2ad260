// `patchwise run <pipeline.yaml | folder>...`: validate every pipeline first, then run them,
// resuming whatever a previous invocation finished, and print what each setting detected.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { UserError } from '../../core/errors.js';
import { corruptionName } from '../../core/vocabulary.js';
import type { DiscoveryResult } from '../../pipeline/run-discovery.js';
import type { PathPatchingResult } from '../../pipeline/run-path-patching.js';
import { runPipeline, type SettingResult } from '../../pipeline/run-pipeline.js';
import { type Pipeline, loadPipeline } from '../../pipeline/spec.js';
import { Store } from '../../store/store.js';
import { AGREEMENT_COLUMNS, AGREEMENT_LEGEND, agreementCells } from '../format-agreement.js';
import { formatNumber, formatTable } from '../format-table.js';

function pipelineFiles(paths: readonly string[]): string[] {
  return paths.flatMap((p) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new UserError(`${p}: no such pipeline file or folder`);
    }
    if (!st.isDirectory()) return [p];
    const files = readdirSync(p)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => join(p, f));
    if (files.length === 0) throw new UserError(`${p}: no .yaml pipelines in this folder`);
    return files;
  });
}

function discoverySummary(results: readonly DiscoveryResult[]): string {
  // CPR and CMD columns only when some circuit has them (discovery.mib), so other output is unchanged.
  const withMib = results.some((r) => r.circuits.some((c) => c.cpr !== undefined));
  const opt = (v: number | undefined): string => (v === undefined ? '' : formatNumber(v));
  const rows = results.flatMap((r) =>
    r.circuits.map((c) => [
      String(r.runId),
      r.point.method,
      corruptionName(r.point.corruption),
      r.point.direction,
      r.point.metric,
      String(Number(c.tau.toPrecision(4))), // attribution cuts are |score| values: 4 significant digits
      String(c.size),
      formatNumber(c.faithfulness),
      opt(c.randomFaithfulness),
      opt(r.auc),
      ...(withMib ? [opt(c.cpr), opt(c.cmd)] : []),
    ]),
  );
  const header = ['run', 'method', 'corruption', 'direction', 'metric', 'tau', 'edges', 'faithfulness', 'random', 'ROC-AUC', ...(withMib ? ['CPR', 'CMD'] : [])];
  return 'discovered circuits\n' + formatTable(header, rows);
}

function summary(pipeline: Pipeline, results: readonly SettingResult[]): string {
  if (!pipeline.patching) return '';
  // A method column only where the grid has AtP runs, so other output is unchanged.
  const withMethod = results.some((r) => r.point.method === 'attribution');
  const rows = results.map((r) => [
    String(r.runId),
    ...(withMethod ? [r.point.method] : []),
    corruptionName(r.point.corruption),
    r.point.direction,
    r.metric,
    r.baseline ? `${formatNumber(r.baseline.clean)} / ${formatNumber(r.baseline.corrupted)}` : '',
    r.point.granularity + (r.point.window > 1 ? ` w${r.point.window}` : ''),
    r.detections.length === 0 ? '(none)' : r.detections.map((d) => `${d.component}${d.sign < 0 ? '(-)' : ''}`).join(' '),
  ]);
  return (
    `${pipeline.name}: detected components (k = ${pipeline.patching.detect.k} SD; signed: (-) lowers the metric)\n` +
    formatTable(['run', ...(withMethod ? ['method'] : []), 'corruption', 'direction', 'metric', 'clean / corrupted', 'granularity', 'detected'], rows) +
    agreementSummary(results)
  );
}

/** Each AtP run against its exact run, where the grid has both (empty otherwise). */
function agreementSummary(results: readonly SettingResult[]): string {
  const rows = results.flatMap((r) =>
    r.agreement === undefined
      ? []
      : [
          [
            `${r.agreement.exactRunId} / ${r.runId}`,
            corruptionName(r.point.corruption),
            r.point.direction,
            r.metric,
            r.point.granularity + (r.point.window > 1 ? ` w${r.point.window}` : ''),
            ...agreementCells(r.agreement.agreement),
          ],
        ],
  );
  if (rows.length === 0) return '';
  return `\n\nattribution (AtP) against exact patching\n${formatTable(['runs exact / AtP', 'corruption', 'direction', 'metric', 'granularity', ...AGREEMENT_COLUMNS], rows)}\n${AGREEMENT_LEGEND}`;
}

/** The largest path effects of each path-patching run (three per run, largest |effect| first). */
function pathSummary(results: readonly PathPatchingResult[]): string {
  const rows = results.map((r) => [
    String(r.runId),
    r.receiverSet,
    corruptionName(r.point.corruption),
    r.point.direction,
    r.point.metric,
    [...r.effects]
      .sort((a, b) => Math.abs(b.effect) - Math.abs(a.effect))
      .slice(0, 3)
      .map((e) => `${e.sender} ${formatNumber(e.effect)}`)
      .join(', '),
  ]);
  return 'largest path effects\n' + formatTable(['run', 'receivers', 'corruption', 'direction', 'metric', 'senders'], rows);
}

/** --threads, shared by the commands that run a model. */
export const threadsOption = { type: 'number', describe: 'threads each model session uses (default: every core)' } as const;

/** The checked --threads value: a whole number >= 1, or undefined for every core. */
export function threadsOf(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1) throw new UserError(`--threads must be a whole number >= 1, got ${value}`);
  return value;
}

/** A bar on a terminal, periodic lines in logs, nothing with --no-progress. */
export const progressMode = (on: boolean): 'bar' | 'lines' | 'off' => (!on ? 'off' : process.stderr.isTTY ? 'bar' : 'lines');

export const runCommand: CommandModule<object, { pipelines: string[]; db: string; progress: boolean; 'progress-every': number; threads: number | undefined }> = {
  command: 'run <pipelines..>',
  describe: 'Run pipeline files (or every .yaml in a folder); finished work is kept and resumed',
  builder: (y) =>
    y
      .positional('pipelines', { type: 'string', array: true, demandOption: true, describe: 'pipeline .yaml files or folders of them' })
      .option('db', { type: 'string', default: 'patchwise.db', describe: 'SQLite database for results' })
      .option('progress', { type: 'boolean', default: true, describe: 'show progress: a bar on a terminal, else a line every --progress-every seconds (--no-progress to hide)' })
      .option('progress-every', { type: 'number', default: 10, describe: 'seconds between progress lines when the output is not a terminal' })
      .option('threads', threadsOption),
  handler: async (argv) => {
    const threads = threadsOf(argv.threads);
    const files = pipelineFiles(argv.pipelines);
    // Every file is checked before anything runs, and every problem of every file is reported.
    const problems: string[] = [];
    const pipelines: Pipeline[] = [];
    for (const f of files) {
      try {
        pipelines.push(loadPipeline(f));
      } catch (e) {
        if (e instanceof UserError) problems.push(e.message);
        else throw e;
      }
    }
    if (problems.length > 0) throw new UserError(`invalid pipeline${problems.length > 1 ? 's' : ''}:\n${problems.join('\n')}`);
    const store = await Store.open(argv.db);
    try {
      for (const p of pipelines) {
        console.log(`running ${p.file} (${p.name})`);
        const results = await runPipeline(p, store, { progress: progressMode(argv.progress), progressEvery: argv['progress-every'], threads });
        if (results.patching.length > 0) console.log(summary(p, results.patching));
        if (results.discovery.length > 0) console.log(discoverySummary(results.discovery));
        if (results.pathPatching.length > 0) console.log(pathSummary(results.pathPatching));
      }
    } finally {
      await store.close();
    }
  },
};
