// The one way patchwise reports schema problems (pipelines, task options, circuit files, prompt
// lines): one line per problem, `file: field.path: message`, with zod's messages made plain.
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
  if (issue.code === 'unrecognized_keys' && /^Unrecognized key/.test(issue.message)) {
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  }
  return issue.message.replace(/^Invalid (input|option): /, '');
}

/**
 * Every issue of `error`, one line each: `file: field: message` (`file` left out when undefined;
 * `field` prefixes every issue's path, e.g. `task.options`; `(top level)` for an empty path).
 */
export function formatZodIssues(file: string | undefined, error: z.ZodError, field = ''): string {
  return error.issues.map((issue) => `${file === undefined ? '' : `${file}: `}${fieldPath(issue.path, field) || '(top level)'}: ${issueMessage(issue)}`).join('\n');
}

/** A strict object whose unknown-field problem names the fields it knows. */
export function strictObject<S extends z.core.$ZodLooseShape>(shape: S) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (fields: ${known})` : undefined),
  });
}
