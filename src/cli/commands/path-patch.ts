// `patchwise path-patch <pipeline.yaml> --receivers ...`: path patching on a pipeline's model and
// task: every sender's path into a receiver set, for each corruption x direction x metric, stored
// as resumable runs (shared by concurrent processes) and printed as a table of the largest effects.
import type { CommandModule } from 'yargs';
import { UserError } from '../../core/errors.js';
import { corruptionName, type Corruption, DEFAULT_NOISE, DIRECTIONS, type Direction, METRIC_NAMES, type MetricName, noisingOnly, parseAblation } from '../../core/vocabulary.js';
import type { PathPosition } from '../../methods/path-patching.js';
import { runStages } from '../../pipeline/run-pipeline.js';
import { type PathPatchingResult, pathPatchingPoints } from '../../pipeline/run-path-patching.js';
import { loadPipeline, type Pipeline } from '../../pipeline/spec.js';
import { parseCorruption } from '../../tasks/pairs.js';
import { getTask } from '../../tasks/registry.js';
import { Store } from '../../store/store.js';
import { formatNumber, formatTable } from '../format-table.js';
import { progressMode, threadsOf, threadsOption } from './run.js';

interface PathPatchArgs {
  pipeline: string;
  receivers: string[];
  senders?: string[];
  corruption: string[];
  direction: string[];
  metric: string[];
  position: string;
  batch: number;
  top: number;
  db: string;
  progress: boolean;
  'progress-every': number;
  threads?: number;
}

/** 'all', an absolute position, or a role name of the task's pairs. */
function parsePosition(p: string): PathPosition {
  if (p === 'all') return 'all';
  if (/^\d+$/.test(p)) return Number(p);
  return { role: p };
}

/** Corruption names parsed for the pipeline's task; Gaussian noise takes the pipeline's noise settings. */
/** --corruption names: ablations (zero and mean with noising only; mean:FILE relative to the pipeline), or the task's corruptions. */
function parseCorruptions(pipeline: Pipeline, names: readonly string[], directions: readonly Direction[]): Corruption[] {
  const task = getTask(pipeline.task.name);
  const noise = pipeline.pathPatching?.gn ?? pipeline.patching?.gn ?? pipeline.discovery?.gn ?? DEFAULT_NOISE;
  return names.map((n) => {
    let ablation: Corruption | undefined;
    try {
      ablation = parseAblation(n);
    } catch (e) {
      throw new UserError(`--corruption: ${(e as Error).message}`);
    }
    if (ablation) {
      if (noisingOnly(ablation) && directions.includes('denoising')) throw new UserError(`--corruption ${n}: ${ablation.kind} ablation is defined for noising only; use --direction noising`);
      return ablation;
    }
    const c = parseCorruption(task, n);
    return c.kind === 'gn' ? { ...c, noise } : c;
  });
}

function table(results: readonly PathPatchingResult[], top: number): string {
  return results
    .map((r) => {
      const rows = [...r.effects]
        .sort((a, b) => Math.abs(b.effect) - Math.abs(a.effect))
        .slice(0, top > 0 ? top : undefined)
        .map((e) => [e.sender, formatNumber(e.effect)]);
      return `run ${r.runId}: ${corruptionName(r.point.corruption)} ${r.point.direction} ${r.point.metric} (normaliser ${formatNumber(r.normaliser)})\n${formatTable(['sender', 'effect'], rows)}`;
    })
    .join('\n\n');
}

export const pathPatchCommand: CommandModule<object, PathPatchArgs> = {
  command: 'path-patch <pipeline>',
  describe: "Path patching on a pipeline's model and task: every sender's path into a receiver set, stored and resumable",
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', demandOption: true, describe: 'pipeline .yaml (its model and task are used)' })
      .option('receivers', { type: 'string', array: true, demandOption: true, describe: 'the receiver set: logits, aL.hH<q|k|v>, mL' })
      .option('senders', { type: 'string', array: true, describe: 'senders to sweep (default: every sender feeding the set)' })
      .option('corruption', { type: 'string', array: true, default: ['str'], describe: 'str, a task STR variant, gn or gn:ROLE,ROLE, or an ablation: zero, mean, resample[:SEED]' })
      .option('direction', { type: 'string', array: true, default: ['noising'], choices: [...DIRECTIONS] })
      .option('metric', { type: 'string', array: true, default: ['logit-diff'], choices: [...METRIC_NAMES] })
      .option('position', { type: 'string', default: 'all', describe: 'all, a token position, or a role of the pairs (e.g. END)' })
      .option('batch', { type: 'number', default: 32, describe: 'prompt rows per unit of work' })
      .option('top', { type: 'number', default: 10, describe: 'senders to print per run, largest |effect| first (0: all)' })
      .option('db', { type: 'string', default: 'patchwise.db', describe: 'SQLite database for results' })
      .option('progress', { type: 'boolean', default: true, describe: 'show progress (--no-progress to hide)' })
      .option('progress-every', { type: 'number', default: 10, describe: 'seconds between progress lines when the output is not a terminal' })
      .option('threads', threadsOption),
  handler: async (argv) => {
    const threads = threadsOf(argv.threads);
    const pipeline = loadPipeline(argv.pipeline);
    if (!Number.isInteger(argv.batch) || argv.batch < 1) throw new UserError(`--batch must be a positive integer, got ${argv.batch}`);
    // Names are parsed before the database is opened: a bad one leaves nothing behind.
    const request = {
      receivers: argv.receivers,
      senders: argv.senders,
      corruption: parseCorruptions(pipeline, argv.corruption, argv.direction as Direction[]),
      direction: argv.direction as Direction[],
      metric: argv.metric as MetricName[],
      position: parsePosition(argv.position),
      batch: argv.batch,
    };
    const store = await Store.open(argv.db);
    try {
      const { results } = await runStages<[PathPatchingResult[]]>(pipeline, store, { progress: progressMode(argv.progress), progressEvery: argv['progress-every'], threads }, (ctx) => [
        pathPatchingPoints(ctx, request),
      ]);
      if (results) console.log(table(results[0], argv.top));
    } finally {
      await store.close();
    }
  },
};
