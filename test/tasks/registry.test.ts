// The task table, and the pieces every task shares: option errors and corruption names.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseTaskOptions } from '../../src/tasks/options.js';
import { GN, parseCorruption } from '../../src/tasks/pairs.js';
import { buildDataset, getTask, taskNames } from '../../src/tasks/registry.js';
import { METRIC_NAMES } from '../../src/core/vocabulary.js';
import { getMetric } from '../../src/experiment/metrics.js';
import { checkMetrics } from '../../src/experiment/experiment.js';
import { gpt2Tokenizer } from '../../src/tokenizer/gpt2.js';

const dataDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data');

describe('task registry', () => {
  it('knows the four tasks, and lists them for an unknown name', () => {
    expect(taskNames()).toEqual(['ioi', 'greater-than', 'paired-jsonl', 'induction']);
    for (const name of taskNames()) expect(getTask(name).name).toBe(name);
    expect(() => getTask('docstring')).toThrow('unknown task "docstring" (known: ioi, greater-than, paired-jsonl, induction)');
  });

  it('builds a dataset from a request, with the first STR variant by default', async () => {
    const tokenizer = await gpt2Tokenizer();
    const ctx = { tokenizer, vocabSize: tokenizer.vocabSize, dataDir, baseDir: dataDir };
    const ioi = buildDataset(ctx, { task: 'ioi', seed: 1, count: 4 });
    expect(ioi.task).toBe('ioi');
    expect(ioi.settings.corruption).toBe('s2-io');
    expect(ioi.pairs).toHaveLength(4);
    expect(buildDataset(ctx, { task: 'greater-than', seed: 1, count: 2 }).settings.corruption).toBe('01');
    expect(buildDataset(ctx, { task: 'paired-jsonl', options: { file: 'facts.example.jsonl' }, seed: 1, count: 3 }).pairs).toHaveLength(3);
    expect(buildDataset(ctx, { task: 'induction', options: { length: 5 }, corruption: { kind: 'gn' }, seed: 1, count: 2 }).pairs).toHaveLength(2);
    expect(() => buildDataset(ctx, { task: 'ioi', options: { templates: 'x' }, seed: 1, count: 1, where: 'pipelines/ioi.yaml: task.options' })).toThrow(
      'pipelines/ioi.yaml: task.options.templates: expected one of BABA, ABBA, mixed',
    );
    expect(() => buildDataset(ctx, { task: 'ioi', seed: 1, count: 0 })).toThrow('task ioi: the number of prompt pairs must be a positive integer, got 0');
  });
});

describe('task options', () => {
  const schema = z.strictObject({ a: z.object({ b: z.array(z.number()) }).optional(), c: z.enum(['x', 'y']).default('x') });
  it('name the field of every problem', () => {
    expect(parseTaskOptions(schema, undefined, 'o')).toEqual({ c: 'x' });
    expect(() => parseTaskOptions(schema, { a: { b: [1, 'two'] } }, 'task.options')).toThrow('task.options.a.b[1]: expected number, received string');
    expect(() => parseTaskOptions(schema, { d: 1, e: 2 }, 'task.options')).toThrow('task.options.d: unknown field\ntask.options.e: unknown field');
    expect(() => parseTaskOptions(schema, 'x', 'task.options')).toThrow('task.options: expected object, received string');
  });
});

describe('corruption names', () => {
  const task = { name: 't', corruptions: ['s2-io', 'abc'], roles: ['IO', 'S1', 'S2', 'END'] };
  it('are an STR variant, str (the first variant), gn, or gn with roles the task has', () => {
    expect(parseCorruption(task, 'abc')).toEqual({ kind: 'str', variant: 'abc' });
    expect(parseCorruption(task, 'str')).toEqual({ kind: 'str', variant: 's2-io' });
    expect(parseCorruption(task, GN)).toEqual({ kind: 'gn' });
    expect(parseCorruption(task, 'gn:IO,S2')).toEqual({ kind: 'gn', roles: ['IO', 'S2'] });
    expect(() => parseCorruption(task, 'gn:IO,')).toThrow('task t: corruption "gn:IO," names an empty role');
    expect(() => parseCorruption(task, 'gn:IO,KEY')).toThrow('task t has no role "KEY" to noise (roles: IO, S1, S2, END)');
    expect(() => parseCorruption({ ...task, roles: [] }, 'gn:END')).toThrow('task t has no roles to noise; use plain "gn"');
    expect(() => parseCorruption(task, 'zero')).toThrow('task t has no corruption "zero" (known: s2-io, abc, str, gn, gn:ROLE,...)');
    expect(() => parseCorruption(task, 'gnx')).toThrow('task t has no corruption "gnx"');
  });

  it('name every role the prompts of each task have', async () => {
    const tokenizer = await gpt2Tokenizer();
    const ctx = { tokenizer, vocabSize: tokenizer.vocabSize, dataDir, baseDir: dataDir };
    for (const name of ['ioi', 'greater-than', 'induction']) {
      const task = getTask(name);
      const [pair] = buildDataset(ctx, { task: name, options: name === 'induction' ? { length: 5 } : {}, seed: 1, count: 1 }).pairs;
      expect(Object.keys(pair!.roles).sort()).toEqual([...task.roles].sort());
      for (const role of task.keyRoles ?? []) expect(task.roles).toContain(role);
    }
  });

  it('declare exactly the metrics their pairs support', async () => {
    const tokenizer = await gpt2Tokenizer();
    const ctx = { tokenizer, vocabSize: tokenizer.vocabSize, dataDir, baseDir: dataDir };
    for (const name of ['ioi', 'greater-than', 'induction']) {
      const task = getTask(name);
      const dataset = buildDataset(ctx, { task: name, options: name === 'induction' ? { length: 5 } : {}, seed: 1, count: 3 });
      const supported = METRIC_NAMES.filter((m) => checkMetrics(dataset, [getMetric(m)]).length === 0);
      expect(supported).toEqual(task.metrics);
    }
    expect(getTask('paired-jsonl').metrics).toBeUndefined();
  });
});
