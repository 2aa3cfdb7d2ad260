// Task options come from pipeline files: parse them with zod and turn the first problem into a
// UserError that names the field, e.g. `task.options.templates: expected one of BABA, ABBA, mixed`.
import type { z } from 'zod';
import { UserError } from '../core/errors.js';

/** Parses `raw` (absent means no options) with `schema`; `where` names the options object. */
export function parseTaskOptions<S extends z.ZodType>(schema: S, raw: unknown, where: string): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new UserError(`${where}: invalid options`);
  throw new UserError(`${fieldPath(where, issue.path)}: ${issueMessage(issue)}`);
}

/** `where.a[2].b` for the path ['a', 2, 'b']. */
export function fieldPath(where: string, path: readonly PropertyKey[]): string {
  let out = where;
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  return out;
}

/** zod's message without its generic prefix; enumerations listed plainly. */
export function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.map((v) => String(v)).join(', ')}`;
  if (issue.code === 'unrecognized_keys') {
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  }
  return issue.message.replace(/^Invalid (input|option): /, '');
}
