// Attribution-seeded ACDC (discovery.candidates): on the planted induction model, ACDC visits only
// the top-N edges of eap-ig-inputs (the rest start pruned), still finds exactly the planted circuit,
// and records the seeding as a setting of its own; without acdc in the methods it is refused.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { loadPipeline } from '../../src/pipeline/spec.js';
import { Store } from '../../src/store/store.js';

const pipelineText = (method: string, extra = '') => `name: seeded
model: { plant: induction, seed: 0 }
task: { name: induction, count: 12, seed: 1, options: { length: 10 } }
discovery:
  method: [${method}]
  corruption: [all-random]
  metric: [kl]
  thresholds: [0.001]
  candidates: { method: eap-ig-inputs, top: 20 }
${extra}`;

describe('discovery.candidates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchwise-seeded-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs ACDC over the top-N attributed edges only and finds the planted circuit', async () => {
    const file = join(dir, 'seeded.yaml');
    writeFileSync(file, pipelineText('acdc'));
    const store = await Store.open(join(dir, 'seeded.db'));
    try {
      const [r] = (await runPipeline(loadPipeline(file), store, { log: () => undefined })).discovery;
      // The planted circuit exactly (ROC-AUC 1 against the ground truth), as unseeded ACDC finds it.
      expect(r!.auc).toBe(1);
      expect(r!.circuits[0]!.size).toBe(5);
      const circuit = await store.circuits.load(r!.circuits[0]!.circuitId);
      const seeding = { method: 'eap-ig-inputs', top: 20, steps: 5 };
      expect(circuit.meta.extra.candidates).toEqual(seeding);
      expect((await store.circuits.list({ runId: r!.runId }))[0]!.settings).toMatchObject({ candidates: seeding });
      // Only the candidates were decided on (scored); every kept edge is one of them.
      const decisions = circuit.meta.extra.decisions as number;
      expect(decisions).toBeGreaterThan(0);
      expect(decisions).toBeLessThanOrEqual(20);
      expect(circuit.nScored).toBe(decisions);
      for (const e of circuit.edges()) expect(Number.isNaN(e.score), e.name).toBe(false);
    } finally {
      await store.close();
    }
  }, 180_000);

  it('is refused without edge-level ACDC in the methods', () => {
    const file = join(dir, 'no-acdc.yaml');
    writeFileSync(file, pipelineText('eap', '  edges: [5]\n'));
    expect(() => loadPipeline(file)).toThrow(/no-acdc\.yaml: discovery\.candidates: seeds edge-level ACDC, but method is eap \(add acdc\)/);
  });
});
