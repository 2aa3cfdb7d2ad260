// Malformed pipelines: one error line per problem, naming file, field and what was expected,
// before anything runs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expandGrid, loadPipeline } from '../../src/pipeline/spec.js';
import { UserError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-spec-'));
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe('pipeline files', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports every problem with file and field', () => {
    const f = write(
      'bad.yaml',
      `model: { plant: induction }
task: { name: ioi-typo, count: -3 }
patching:
  metric: [prob, accuracy]
  granularity: heads
  direction: sideways
  window: [2]
  extra: 1
`,
    );
    let message = '';
    try {
      loadPipeline(f);
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      message = (e as Error).message;
    }
    const lines = message.split('\n');
    expect(lines.every((l) => l.startsWith(`${f}: `))).toBe(true);
    expect(message).toMatch(/task\.name: .*expected one of "ioi"\|"greater-than"\|"paired-jsonl"\|"induction"/i);
    expect(message).toMatch(/task\.count: .*>=\s*1/);
    expect(message).toMatch(/patching\.metric\[1\]: .*expected one of/i);
    expect(message).toMatch(/patching\.direction\[0\]: .*expected one of "denoising"\|"noising"/);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const typo = write('typo.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { metrics: [kl] }\n`);
    expect(() => loadPipeline(typo)).toThrow(/typo\.yaml: patching: Unrecognized key: "metrics"/);
  });

  it('rejects windows on granularities without them, and YAML syntax errors', () => {
    const w = write('win.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { granularity: [heads], window: [1, 3] }\n`);
    expect(() => loadPipeline(w)).toThrow(/patching\.window: windows larger than 1 need a windowed granularity/);
    const y = write('syntax.yaml', `model: { plant: induction\ntask: [`);
    expect(() => loadPipeline(y)).toThrow(new RegExp(`^${y.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: YAML: `));
  });

  it('expands the grid: corruption x direction x granularity x window', () => {
    const f = write(
      'grid.yaml',
      `model: { plant: induction }
task: { name: induction }
patching:
  corruption: [key-token, gn]
  direction: [denoising, noising]
  metric: [prob, kl, logit-diff]
  granularity: [heads, mlp]
  window: [1, 2]
`,
    );
    const grid = expandGrid(loadPipeline(f));
    // heads takes window 1 only; mlp takes 1 and 2: 2 x 2 x (1 + 2) = 12 points (x 3 metrics = 36 runs).
    expect(grid).toHaveLength(12);
    expect(grid.filter((g) => g.granularity === 'mlp' && g.window === 2)).toHaveLength(4);
  });
});
