// The must-show of activation patching: on the planted induction model, head patching with STR
// detects exactly the two planted heads under every metric, in both directions.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { loadPipeline } from '../../src/pipeline/spec.js';
import { Store } from '../../src/store/store.js';

describe('planted induction model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchwise-planted-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('head patching detects exactly a0.h3 and a1.h7 under every metric and direction (STR)', async () => {
    const file = join(dir, 'planted.yaml');
    writeFileSync(
      file,
      `model: { plant: induction, seed: 0 }
task: { name: induction, count: 24, seed: 7, options: { length: 10 } }
patching:
  corruption: [key-token]
  direction: [denoising, noising]
  metric: [prob, logit-diff, kl]
  granularity: [heads]
`,
    );
    const store = await Store.open(join(dir, 'planted.db'));
    try {
      const results = (await runPipeline(loadPipeline(file), store, { log: () => undefined })).patching;
      expect(results).toHaveLength(6);
      for (const r of results) {
        const detected = r.detections.map((d) => d.component).sort();
        expect(detected, `${r.point.direction} ${r.metric}`).toEqual(['a0.h3', 'a1.h7']);
        const sign = r.point.direction === 'denoising' ? 1 : -1;
        for (const d of r.detections) expect(d.sign).toBe(sign);
      }
    } finally {
      await store.close();
    }
  });
});
