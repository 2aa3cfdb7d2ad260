// The stage driver's unit budget and resume, in process: a run stopped by the budget (inside the
// discovery stage, after the whole patching stage) says it is incomplete; the next invocation
// says how much it found stored, computes only the rest, and ends with exactly the results of an
// uninterrupted run. Run keys derive from content: a re-run with the same settings finds its runs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { loadPipeline } from '../../src/pipeline/spec.js';
import { Store } from '../../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-driver-'));
const file = join(dir, 'budget.yaml');
writeFileSync(
  file,
  `name: budget
model: { init: tiny-llama, seed: 4 }
task: { name: induction, count: 8, seed: 2, options: { length: 5, cut: last, vocabRange: [100, 400] } }
patching:
  corruption: [str]
  metric: [prob, kl]
  granularity: [heads]
  batch: 2
discovery:
  method: [acdc]
  corruption: [str]
  metric: [kl]
  thresholds: [0.0001, 0.001, 0.01]
  prompts: 3
`,
);

async function snapshot(db: string): Promise<string> {
  const s = await Store.open(db, { create: false });
  try {
    const effects = await s.query(`SELECT r.key, c.key AS component, e.prompt, e.value FROM effects e JOIN runs r ON r.id = e.run_id JOIN components c ON c.id = e.component_id ORDER BY 1, 2, 3`);
    const circuits = await s.query(`SELECT c.key, e.sender, e.receiver, e.score, e.in_circuit FROM circuit_edges e JOIN circuits c ON c.id = e.circuit_id ORDER BY 1, 2, 3`);
    const runs = await s.query(`SELECT key, status, detail FROM runs ORDER BY key`);
    return JSON.stringify({ effects, circuits, runs });
  } finally {
    await s.close();
  }
}

describe('stage driver', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stops after the unit budget and resumes to the uninterrupted results', async () => {
    const pipeline = loadPipeline(file);
    const whole = join(dir, 'whole.db');
    const s1 = await Store.open(whole);
    try {
      expect((await runPipeline(pipeline, s1, { progress: 'off', log: () => undefined })).complete).toBe(true);
    } finally {
      await s1.close();
    }

    const cut = join(dir, 'cut.db');
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const s2 = await Store.open(cut);
    try {
      // 4 patching units (8 pairs, 2 a unit) and 1 of the 3 thresholds.
      const first = await runPipeline(pipeline, s2, { progress: 'off', log, maxUnits: 5 });
      expect(first.complete).toBe(false);
      expect(lines.at(-1)).toMatch(/^stopped after the unit budget: acdc key-token noising kl is incomplete; run again to resume$/);
      const [units] = await s2.query<{ n: number }>('SELECT count(*) AS n FROM units');
      expect(units?.n).toBe(2 * 4 + 1); // unit rows are per run: prob and kl share each patching unit
      lines.length = 0;
      const second = await runPipeline(pipeline, s2, { progress: 'off', log });
      expect(second.complete).toBe(true);
      expect(lines).toEqual(['acdc key-token noising kl: resumed: 1 of 3 units already stored']);
      expect(second.discovery[0]!.circuits.map((c) => c.tau)).toEqual([0.0001, 0.001, 0.01]);
      // Patching was done in the first invocation; discovery took two.
      const attempts = await s2.query<{ attempts: number }>('SELECT attempts FROM runs ORDER BY id');
      expect(attempts.map((a) => a.attempts)).toEqual([1, 1, 2]);
    } finally {
      await s2.close();
    }
    expect(await snapshot(cut)).toBe(await snapshot(whole));
  }, 240_000);
});
