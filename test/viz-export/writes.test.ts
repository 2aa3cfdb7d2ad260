// What nodes write, as `viz build` exports it: checked against the float64 reference forward (mean
// sender output at the metric position, centred, times the final norm's gain, times the
// unembedding), for the planted induction model.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import { plantInductionModel } from '../../src/synthetic/planted.js';
import { chunkFile, writesChunk, type VizWrites } from '../../src/viz-export/format.js';
import { buildSite } from '../../src/viz-export/site.js';
import { TOP_TOKENS } from '../../src/viz-export/writes.js';
import { referenceForward } from '../reference/patched-forward.js';
import { writePlantedFixture } from '../viz/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-writes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The payload of a built data file. */
function payload(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(',') + 1;
  return JSON.parse(text.slice(start, text.lastIndexOf(');')));
}

describe('viz build: what each node writes', () => {
  it('matches the float64 reference for every node of the planted model', async () => {
    const db = join(dir, 'planted.db');
    const fx = await writePlantedFixture(db);
    const out = join(dir, 'site');
    const built = await buildSite({ db, out });
    expect(built.index.writes).toEqual([{ modelFingerprint: fx.fingerprint, chunk: writesChunk(fx.fingerprint), note: null }]);
    const w = payload(join(out, chunkFile(writesChunk(fx.fingerprint)))) as VizWrites;
    expect(w.nPrompts).toBe(fx.prompts.length);

    const { model } = plantInductionModel({ seed: 0 });
    const g = ComponentGraph.forModel(model.config);
    const d = model.config.dModel;
    const V = model.config.vocabSize;
    const runs = fx.prompts.map((tokens) => referenceForward(model, { tokens }));
    expect(Object.keys(w.nodes).sort()).toEqual(g.senders.map((s) => s.name).sort());
    g.senders.forEach((s, si) => {
      const mean = new Float64Array(d);
      for (const r of runs) for (let i = 0; i < d; i++) mean[i] = mean[i]! + r.senders[si]![fx.metricPosition * d + i]! / runs.length;
      const mu = mean.reduce((a, b) => a + b, 0) / d;
      const logits = new Float64Array(V);
      // Float32 activations against float64: the tolerance scales with the summed terms' size,
      // not the result's (a node whose logits nearly cancel, like the input's mean, stays checkable).
      let terms = 0;
      for (let i = 0; i < d; i++) {
        const x = (mean[i]! - mu) * model.weights.lnFinal.weight.data[i]!;
        for (let t = 0; t < V; t++) {
          logits[t] = logits[t]! + x * model.weights.unembed.data[i * V + t]!;
          terms = Math.max(terms, Math.abs(x * model.weights.unembed.data[i * V + t]!));
        }
      }
      const scale = terms * d * 1e-1;
      const got = w.nodes[s.name]!;
      expect(got.promoted).toHaveLength(TOP_TOKENS);
      expect(got.suppressed).toHaveLength(TOP_TOKENS);
      for (const t of [...got.promoted, ...got.suppressed]) {
        expect(t.token).toBe(`#${t.id}`);
        expect(Math.abs(t.logit - logits[t.id]!)).toBeLessThanOrEqual(1e-4 * scale + 1e-9);
      }
      // Ranked: nothing left out beats the last promoted token, or sinks below the last suppressed one.
      const minPromoted = Math.min(...got.promoted.map((t) => logits[t.id]!));
      const maxSuppressed = Math.max(...got.suppressed.map((t) => logits[t.id]!));
      const listed = new Set([...got.promoted, ...got.suppressed].map((t) => t.id));
      for (let t = 0; t < V; t++) {
        if (listed.has(t)) continue;
        expect(logits[t]!).toBeLessThanOrEqual(minPromoted + 1e-4 * scale);
        expect(logits[t]!).toBeGreaterThanOrEqual(maxSuppressed - 1e-4 * scale);
      }
    });
  }, 120_000);

  it('says why when the model cannot be loaded, and builds the rest', async () => {
    const { writeFixture } = await import('../viz/fixtures.js');
    const db = join(dir, 'missing-model.db');
    await writeFixture(db);
    const built = await buildSite({ db, out: join(dir, 'site2') });
    expect(built.index.writes).toHaveLength(1);
    expect(built.index.writes![0]!.chunk).toBeNull();
    expect(built.index.writes![0]!.note).toMatch(/could not be loaded from \/models\/tiny/);
  });
});
