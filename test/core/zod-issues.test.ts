// The one schema-problem formatter: every issue on its own line, `file: field.path: message`, with
// zod's enumerations and unknown keys written plainly.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fieldPath, formatZodIssues, strictObject } from '../../src/core/zod-issues.js';

describe('formatZodIssues', () => {
  const schema = strictObject({
    mode: z.enum(['a', 'b']),
    list: z.array(z.strictObject({ n: z.number() })),
    edges: z.record(z.string(), z.number()).optional(),
  });

  it('lists every problem, one line each, naming file and field', () => {
    const r = schema.safeParse({ mode: 'c', list: [{ n: 1 }, { n: 'x' }], edges: { 'a0.h1->m0': 'y' }, extra: 1 });
    expect(r.success).toBe(false);
    if (r.success) return;
    expect(formatZodIssues('f.yaml', r.error).split('\n').sort()).toEqual(
      [
        'f.yaml: mode: expected one of a, b',
        'f.yaml: list[1].n: expected number, received string',
        'f.yaml: edges["a0.h1->m0"]: expected number, received string',
        'f.yaml: extra: unknown field (fields: mode, list, edges)',
      ].sort(),
    );
  });

  it('prefixes a field and leaves the file out when there is none', () => {
    const r = z.strictObject({ n: z.number() }).safeParse({ n: 'x', m: 1 });
    if (r.success) throw new Error('expected a failure');
    expect(formatZodIssues(undefined, r.error, 'task.options').split('\n')).toEqual(['task.options.n: expected number, received string', 'task.options.m: unknown field']);
    expect(fieldPath(['a', 0, 'b'])).toBe('a[0].b');
  });

  it('reports a value that fits no alternative of a union against the closest alternative', () => {
    const model = z.strictObject({ model: z.union([z.strictObject({ path: z.string() }), z.strictObject({ init: z.enum(['tiny']), seed: z.number().default(0) })]) });
    const bad = (v: unknown): string => {
      const r = model.safeParse({ model: v });
      if (r.success) throw new Error('expected a failure');
      return formatZodIssues('p.yaml', r.error);
    };
    expect(bad({ path: 3 })).toBe('p.yaml: model.path: expected string, received number');
    expect(bad({ init: 'huge' })).toBe('p.yaml: model.init: expected one of tiny');
  });
});
