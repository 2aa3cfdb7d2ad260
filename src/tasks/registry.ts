// The tasks a pipeline can name. To add one, write a module exporting a Task and list it here.
import { UserError } from '../core/errors.js';
import { greaterThanTask } from './greater-than.js';
import { inductionTask } from './induction.js';
import { ioiTask } from './ioi.js';
import { pairedJsonlTask } from './paired-jsonl.js';
import { parseCorruption } from './pairs.js';
import type { Dataset, Task, TaskContext } from './types.js';

// Task<O> methods are declared with method syntax, so each task fits Task<unknown>.
const TASKS: readonly Task<unknown>[] = [ioiTask, greaterThanTask, pairedJsonlTask, inductionTask];

const byName = new Map(TASKS.map((task) => [task.name, task]));

/** The names of the registered tasks, in registration order. */
export function taskNames(): string[] {
  return TASKS.map((task) => task.name);
}

/** The task called `name`; a UserError listing the known tasks otherwise. */
export function getTask(name: string): Task<unknown> {
  const task = byName.get(name);
  if (task === undefined) throw new UserError(`unknown task ${JSON.stringify(name)} (known: ${taskNames().join(', ')})`);
  return task;
}

export interface DatasetRequest {
  readonly task: string;
  /** The task's options as they came from the pipeline file (absent: all defaults). */
  readonly options?: unknown;
  /** One of the task's STR variants, or `gn` / `gn:ROLE,ROLE`; the task's first STR variant when absent. */
  readonly corruption?: string;
  readonly seed: number;
  readonly count: number;
  /** Names the options object in error messages, e.g. `pipelines/ioi.yaml: task.options`. */
  readonly where?: string;
}

/** Looks up the task, parses its options, checks the corruption and builds the dataset. */
export function buildDataset(ctx: TaskContext, request: DatasetRequest): Dataset {
  const task = getTask(request.task);
  const options = task.parseOptions(request.options, request.where ?? 'task.options');
  const corruption = request.corruption ?? task.corruptions[0];
  if (corruption === undefined) throw new Error(`task ${task.name} lists no corruptions`);
  parseCorruption(task, corruption); // fail on a bad corruption before any tokenizing
  if (!Number.isInteger(request.count) || request.count < 1) {
    throw new UserError(`task ${task.name}: the number of prompt pairs must be a positive integer, got ${request.count}`);
  }
  return task.build(ctx, options, corruption, request.seed, request.count);
}
