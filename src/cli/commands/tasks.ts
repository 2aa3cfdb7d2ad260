// `patchwise tasks`: every task a pipeline can name, with its options (type, default, meaning),
// corruptions, roles, metrics and an example, read from the tasks themselves so it never drifts.
import type { CommandModule } from 'yargs';
import { z } from 'zod';
import { taskNames, getTask } from '../../tasks/registry.js';
import type { Task } from '../../tasks/types.js';
import { DEFAULT_STR, GN } from '../../tasks/pairs.js';

export interface TaskOption {
  readonly name: string;
  readonly type: string;
  readonly default?: unknown;
  readonly description?: string;
}

export interface TaskListing {
  readonly name: string;
  readonly description: string;
  readonly options: readonly TaskOption[];
  readonly corruptions: readonly string[];
  readonly roles: readonly string[];
  /** Absent where the metrics a pair supports depend on the data (paired-jsonl). */
  readonly metrics?: readonly string[];
  readonly example: Task<unknown>['example'];
}

type JsonSchema = { type?: string | string[]; enum?: unknown[]; items?: JsonSchema; prefixItems?: JsonSchema[]; default?: unknown; description?: string; properties?: Record<string, JsonSchema> };

/** A JSON-schema type as a reader wants it: `BABA | ABBA | mixed`, `integer[]`, `[integer, integer]`. */
function typeOf(s: JsonSchema): string {
  if (s.enum !== undefined) return s.enum.map(String).join(' | ');
  if (s.prefixItems !== undefined) return `[${s.prefixItems.map(typeOf).join(', ')}]`;
  if (s.type === 'array' && s.items !== undefined) return `${typeOf(s.items)}[]`;
  return Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? 'value');
}

export function taskListing(task: Task<unknown>): TaskListing {
  const schema = z.toJSONSchema(task.optionsSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const options = Object.entries(schema.properties ?? {}).map(([name, s]) => ({
    name,
    type: typeOf(s),
    ...(s.default === undefined ? {} : { default: s.default }),
    ...(s.description === undefined ? {} : { description: s.description }),
  }));
  return {
    name: task.name,
    description: task.description,
    options,
    corruptions: [...task.corruptions, DEFAULT_STR, GN, ...(task.roles.length > 0 ? [`${GN}:ROLE,...`] : [])],
    roles: task.roles,
    ...(task.metrics === undefined ? {} : { metrics: task.metrics }),
    example: task.example,
  };
}

export function tasksText(listings: readonly TaskListing[]): string {
  const out: string[] = [];
  for (const t of listings) {
    out.push(t.name, `  ${t.description}`);
    out.push(`  corruptions: ${t.corruptions.join(', ')} (str: ${t.corruptions[0]})`);
    if (t.roles.length > 0) out.push(`  roles: ${t.roles.join(', ')}`);
    out.push(`  metrics: ${t.metrics?.join(', ') ?? 'whichever each pair supports (logit-diff needs wrong answers)'}`);
    out.push('  options:');
    for (const o of t.options) {
      const dflt = o.default === undefined ? '' : ` (default ${JSON.stringify(o.default)})`;
      out.push(`    ${o.name}: ${o.type}${dflt}${o.description === undefined ? '' : ` - ${o.description}`}`);
    }
    out.push(`  example: task: { name: ${t.name}, options: ${JSON.stringify(t.example.options)} }`, `    ${t.example.prompt}`, '');
  }
  return out.join('\n').trimEnd();
}

export const tasksCommand: CommandModule<object, { json: boolean }> = {
  command: 'tasks',
  describe: 'List the tasks a pipeline can name: options, corruptions, roles, metrics and an example',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print the tasks as JSON' }),
  handler: (argv) => {
    const listings = taskNames().map((name) => taskListing(getTask(name)));
    console.log(argv.json ? JSON.stringify(listings, null, 2) : tasksText(listings));
  },
};
