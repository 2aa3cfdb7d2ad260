// The tasks a pipeline can name. To add one, write a module exporting a Task and list it here.
import { UserError } from '../core/errors.js';
import type { PromptCorruption } from '../core/vocabulary.js';
import { greaterThanTask } from './greater-than.js';
import { inductionTask } from './induction.js';
import { ioiTask } from './ioi.js';
import { pairedJsonlTask } from './paired-jsonl.js';
import { DEFAULT_STR, parseCorruption } from './pairs.js';
import type { Dataset, Task, TaskContext } from './types.js';

// Task<O> methods are declared with method syntax, so each task fits Task<unknown>.
const TASKS: readonly Task<unknown>[] = [ioiTask, greaterThanTask, pairedJsonlTask, inductionTask];

const byName = new Map(TASKS.map((task) => [task.name, task]));

/** The names of the registered tasks, in registration order. */
export function taskNames(): string[] {
  return TASKS.map((task) => task.name);
}

/** The task called `name`, if there is one. */
export function findTask(name: string | undefined): Task<unknown> | undefined {
  return name === undefined ? undefined : byName.get(name);
}

/** The task called `name`; a UserError listing the known tasks otherwise. */
export function getTask(name: string): Task<unknown> {
  const task = findTask(name);
  if (task === undefined) throw new UserError(`unknown task ${JSON.stringify(name)} (known: ${taskNames().join(', ')})`);
  return task;
}

export interface DatasetRequest {
  readonly task: string;
  /** The task's options, raw or parsed (parsing is idempotent; absent: all defaults). */
  readonly options?: unknown;
  /** The parsed corruption (tasks/pairs.ts parseCorruption); the task's default STR variant when absent. */
  readonly corruption?: PromptCorruption;
  readonly seed: number;
  readonly count: number;
  /** Names the options object in error messages, e.g. `pipelines/ioi.yaml: task.options`. */
  readonly where?: string;
}

/** Looks up the task, parses its options and builds the dataset. */
export function buildDataset(ctx: TaskContext, request: DatasetRequest): Dataset {
  const task = getTask(request.task);
  const options = task.parseOptions(request.options, request.where ?? 'task.options');
  const corruption = request.corruption ?? parseCorruption(task, DEFAULT_STR);
  if (!Number.isInteger(request.count) || request.count < 1) {
    throw new UserError(`task ${task.name}: the number of prompt pairs must be a positive integer, got ${request.count}`);
  }
  return task.build(ctx, options, corruption, request.seed, request.count);
}
