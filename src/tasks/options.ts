// Task options come from pipeline files: parse them with the task's zod schema; every problem is
// one line naming the field, e.g. `task.options.templates: expected one of BABA, ABBA, mixed`.
import type { z } from 'zod';
import { UserError } from '../core/errors.js';
import { formatZodIssues } from '../core/zod-issues.js';

/** Parses `raw` (absent means no options) with `schema`; `where` names the options object. */
export function parseTaskOptions<S extends z.ZodType>(schema: S, raw: unknown, where: string): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  throw new UserError(formatZodIssues(undefined, result.error, where));
}
