// A pipeline with ablations end to end on the planted model: zero-ablation head patching and ACDC
// under resampling and zero ablation, every result recorded with its corruption, every circuit
// scored against the ground truth as its corruption sees it, and `patchwise show` printing it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { showCommand } from '../../src/cli/commands/show.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { loadPipeline } from '../../src/pipeline/spec.js';
import { Store } from '../../src/store/store.js';

async function show(args: string[]): Promise<string> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.map(String).join(' ')));
  try {
    await yargs(['show', ...args])
      .command(showCommand as unknown as CommandModule)
      .strict()
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      })
      .parseAsync();
  } finally {
    spy.mockRestore();
  }
  return lines.join('\n');
}

describe('a pipeline with ablations (planted model)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchwise-ablations-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('patches and discovers under zero and resample ablation; show prints precision, recall and ROC-AUC per circuit', async () => {
    const file = join(dir, 'ablations.yaml');
    writeFileSync(
      file,
      `model: { plant: induction, seed: 0 }
task: { name: induction, count: 4, seed: 3, options: { length: 5, cut: last } }
patching: { corruption: [zero], direction: noising, metric: [kl], granularity: [heads] }
discovery: { corruption: [resample, zero], metric: [kl], thresholds: [0.1] }
`,
    );
    const db = join(dir, 'ablations.db');
    const store = await Store.open(db);
    let runIds: number[];
    try {
      const { patching, discovery } = await runPipeline(loadPipeline(file), store, { log: () => undefined });
      // Zeroing either planted head breaks induction; no distractor comes close.
      expect(patching[0]!.detections.map((d) => d.component).sort()).toEqual(['a0.h3', 'a1.h7']);
      expect(discovery.map((d) => d.circuits[0]!.truth)).toEqual([
        { precision: 1, recall: 1, auc: expect.any(Number) },
        { precision: 1, recall: 1, auc: expect.any(Number) },
      ]);
      expect(discovery.map((d) => d.circuits[0]!.size)).toEqual([5, 7]);
      runIds = discovery.map((d) => d.runId);
      const runs = await Promise.all(runIds.map((id) => store.runs.get(id)));
      expect(runs.map((r) => (r.settings as { corruption?: unknown } | null)?.corruption)).toEqual(['resample', 'zero']);
    } finally {
      await store.close();
    }
    const out = await show([String(runIds[0]), '--db', db]);
    expect(out).toMatch(/circuit\s+method\s+metric\s+tau\s+edges\s+faithfulness\s+precision\s+recall\s+ROC-AUC/);
    expect(out).toMatch(/\n\d+\s+acdc\s+kl\s+0\.1\s+5\s+\S+\s+1\.0000\s+1\.0000\s+\S+/);
  }, 300_000);
});
