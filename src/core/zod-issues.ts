// The one way patchwise reports schema problems (pipelines, task options, circuit files, prompt
// lines): one line per problem, `where: field.path: message`, with zod's messages made plain.
import { z } from 'zod';

/** `field.a[2].b` for the path ['a', 2, 'b']; keys that are not identifiers (edge names) in brackets. */
export function fieldPath(path: readonly PropertyKey[], field = ''): string {
  let out = field;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(key))) out += `${out === '' ? '' : '.'}${String(key)}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** zod's message without its generic prefix; enumerations listed plainly. */
export function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.map((v) => String(v)).join(', ')}`;
  if (issue.code === 'unrecognized_keys' && /^Unrecognized key/.test(issue.message)) return 'unknown field';
  return issue.message.replace(/^Invalid (input|option): /, '');
}

/**
 * One [field, message] per problem: an unknown-fields issue becomes one per unknown field, named by
 * it; a value that matches no alternative of a union is reported against the alternative it comes
 * closest to (fewest problems), so `model: { init: gpt3 }` names `model.init`, not just `model`.
 */
export function issueLines(error: z.ZodError, field = ''): [string, string][] {
  return linesOf(error.issues, [], field);
}

function linesOf(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[], field: string): [string, string][] {
  return issues.flatMap((issue): [string, string][] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key): [string, string] => [fieldPath([...path, key], field), issueMessage(issue)]);
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const closest = issue.errors.reduce((best, branch) => (branch.length < best.length ? branch : best));
      if (closest.length > 0) return linesOf(closest, path, field);
    }
    return [[fieldPath(path, field) || '(top level)', issueMessage(issue)]];
  });
}

/**
 * Every issue of `error`, one line each: `where: field: message` (`where`, e.g. the file, left out
 * when undefined; `field` prefixes every issue's path, e.g. `task.options`).
 */
export function formatZodIssues(where: string | undefined, error: z.ZodError, field = ''): string {
  return issueLines(error, field)
    .map(([path, message]) => `${where === undefined ? '' : `${where}: `}${path}: ${message}`)
    .join('\n');
}

/** A strict object whose unknown-field problem names the fields it knows. */
export function strictObject<S extends z.core.$ZodLooseShape>(shape: S) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field (fields: ${known})` : undefined) });
}
