// AtP against exact patching through a pipeline: with `patching.method: [exact, attribution]` on the
// planted induction model, every attribution run of every granularity gets its agreement with the
// exact run of the same point and metric, and the stored agreement equals one recomputed here, in
// float64, from the effect rows and detections in the database (not through the store's means or
// the evaluation module). `patchwise show` prints it for both runs, `compare` for the pair, `run`
// in its summary, and the viewer's data carries it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { formatNumber } from '../../src/cli/format-table.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { loadPipeline } from '../../src/pipeline/spec.js';
import { Store } from '../../src/store/store.js';
import { collectSite } from '../../src/viz-export/collect.js';
import { agreementLine, runLabel } from '../../viz/src/text.js';

/** Per-component means straight from the effect rows, keyed by [component, layer, head, position, window]. */
async function rawMeans(store: Store, runId: number): Promise<Map<string, number>> {
  const rows = await store.query<{ key: string; value: number }>('SELECT c.key, e.value FROM effects e JOIN components c ON c.id = e.component_id WHERE e.run_id = ?', [runId]);
  const sums = new Map<string, { s: number; n: number }>();
  for (const r of rows) {
    const [component, , layer, head, position, window] = JSON.parse(r.key) as unknown[];
    const key = JSON.stringify([component, layer, head, position, window]);
    const acc = sums.get(key) ?? { s: 0, n: 0 };
    sums.set(key, { s: acc.s + r.value, n: acc.n + 1 });
  }
  return new Map([...sums].map(([k, { s, n }]) => [k, s / n]));
}

async function rawDetections(store: Store, runId: number): Promise<Set<string>> {
  const rows = await store.query<{ component: string; layer: number; head: number | null; position: number | null; window_size: number }>(
    'SELECT component, layer, head, position, window_size FROM detections WHERE run_id = ?',
    [runId],
  );
  return new Set(rows.map((d) => JSON.stringify([d.component, d.layer, d.head, d.position, d.window_size])));
}

function correlation(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b) / n;
  const my = y.reduce((a, b) => a + b) / n;
  const cov = x.reduce((a, xi, i) => a + (xi - mx) * (y[i]! - my), 0);
  const vx = x.reduce((a, xi) => a + (xi - mx) ** 2, 0);
  const vy = y.reduce((a, yi) => a + (yi - my) ** 2, 0);
  return cov / Math.sqrt(vx * vy);
}

/** Rank by counting: 1 + values below + half of the other values equal (the mean rank of a tie). */
const countRanks = (x: readonly number[]): number[] => x.map((v) => 1 + x.filter((w) => w < v).length + (x.filter((w) => w === v).length - 1) / 2);

/** Top k by |value|, ties to the component key that sorts first (the documented convention). */
function topK(keys: readonly string[], values: readonly number[], k: number): Set<string> {
  const idx = keys.map((_, i) => i);
  idx.sort((a, b) => (keys[a]! < keys[b]! ? -1 : 1));
  idx.sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!));
  return new Set(idx.slice(0, k).map((i) => keys[i]!));
}

describe('AtP against exact patching on the planted induction model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchwise-atp-agreement-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stores each attribution run’s agreement with its exact run, equal to a recomputation from the stored effects', async () => {
    const file = join(dir, 'atp.yaml');
    writeFileSync(
      file,
      `name: atp-agreement
model: { plant: induction, seed: 0 }
task: { name: induction, count: 8, seed: 7, options: { length: 6 } }
patching:
  method: [exact, attribution]
  corruption: [key-token]
  direction: [denoising]
  metric: [logit-diff, prob]
  granularity: [heads, heads-pos, head-qkv, mlp, resid]
  window: [1, 2]
`,
    );
    const db = join(dir, 'atp.db');
    const store = await Store.open(db);
    let pair: { exact: number; estimate: number } | undefined;
    try {
      const results = (await runPipeline(loadPipeline(file), store, { log: () => undefined })).patching;
      const attribution = results.filter((r) => r.point.method === 'attribution');
      const exact = results.filter((r) => r.point.method === 'exact');
      // heads, heads-pos, head-qkv, mlp (windows 1 and 2), resid: six points, two metrics each.
      expect(attribution).toHaveLength(12);
      expect(exact.every((r) => r.agreement === undefined)).toBe(true);
      for (const r of attribution) {
        const where = `${r.point.granularity} w${r.point.window} ${r.metric}`;
        const twin = exact.find((e) => e.point.granularity === r.point.granularity && e.point.window === r.point.window && e.metric === r.metric)!;
        expect(r.agreement?.exactRunId, where).toBe(twin.runId);
        const stored = await store.agreements.forRun(r.runId);
        expect(
          stored.map((s) => [s.exactRunId, s.estimateRunId]),
          where,
        ).toEqual([[twin.runId, r.runId]]);
        const a = stored[0]!.agreement;
        expect(a, where).toEqual(r.agreement!.agreement);

        const ma = await rawMeans(store, twin.runId);
        const mb = await rawMeans(store, r.runId);
        const keys = [...ma.keys()].sort();
        expect([...mb.keys()].sort(), where).toEqual(keys);
        const xs = keys.map((k) => ma.get(k)!);
        const ys = keys.map((k) => mb.get(k)!);
        expect(a.n, where).toBe(keys.length);
        expect(a.pearson!, where).toBeCloseTo(correlation(xs, ys), 9);
        expect(a.spearman!, where).toBeCloseTo(correlation(countRanks(xs), countRanks(ys)), 9);
        expect(a.signAgreement, where).toBeCloseTo(xs.filter((x, i) => Math.sign(x) === Math.sign(ys[i]!)).length / keys.length, 12);
        const detA = await rawDetections(store, twin.runId);
        const detB = await rawDetections(store, r.runId);
        const ks = [...new Set([5, 10, 20, detA.size].filter((k) => k > 0 && k < keys.length))].sort((p, q) => p - q);
        expect(
          a.topK.map((t) => t.k),
          where,
        ).toEqual(ks);
        for (const t of a.topK) {
          const ta = topK(keys, xs, t.k);
          const shared = [...topK(keys, ys, t.k)].filter((k) => ta.has(k)).length;
          expect([t.shared, t.fraction], `${where} top ${t.k}`).toEqual([shared, shared / t.k]);
        }
        const both = [...detA].filter((d) => detB.has(d)).length;
        const union = detA.size + detB.size - both;
        expect(a.detections, where).toEqual({ exact: detA.size, estimate: detB.size, both, jaccard: union === 0 ? 1 : both / union });
      }
      // On heads with logit difference, AtP ranks the planted heads like exact patching does.
      const heads = attribution.find((r) => r.point.granularity === 'heads' && r.metric === 'logit-diff')!;
      expect(heads.agreement!.agreement.spearman!).toBeGreaterThan(0.5);
      pair = { exact: heads.agreement!.exactRunId, estimate: heads.runId };

      // The viewer's data: AtP runs say so and carry their agreement; exact runs carry none.
      const site = await collectSite(store);
      for (const r of results) {
        const info = site.index.runs.find((x) => x.id === r.runId)!;
        expect(info.method).toBe(r.point.method === 'attribution' ? 'attribution' : null);
        expect(info.agreement).toEqual(r.agreement ?? null);
      }
      const atpInfo = site.index.runs.find((x) => x.id === heads.runId)!;
      expect(runLabel(atpInfo)).toMatch(new RegExp(`^run ${heads.runId}: AtP · key-token`));
      expect(agreementLine(atpInfo.agreement!)).toContain(`vs exact run ${pair.exact}: Pearson `);
    } finally {
      await store.close();
    }

    // `show` prints the agreement for both runs of a pair; `run` (everything resumed) in its summary.
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const store2 = await Store.open(db, { create: false });
      const [record] = await store2.agreements.forRun(pair.exact);
      await store2.close();
      for (const id of [pair.exact, pair.estimate]) {
        log.mockClear();
        await main(['show', String(id), '--db', db]);
        const printed = log.mock.calls.map((c) => c.join(' ')).join('\n');
        expect(printed).toContain('agreement of attribution (AtP) with exact patching (1)');
        expect(printed).toMatch(new RegExp(`${formatNumber(record!.agreement.pearson)} +${formatNumber(record!.agreement.spearman)}`));
        expect(printed).toContain(id === pair.exact ? `${pair.estimate} (AtP)` : `${pair.exact} (exact)`);
      }
      log.mockClear();
      await main(['compare', String(pair.estimate), String(pair.exact), '--db', db]);
      const compared = log.mock.calls.map((c) => c.join(' ')).join('\n');
      expect(compared).toContain(`AtP (run ${pair.estimate}) against exact patching (run ${pair.exact})`);
      expect(compared).toMatch(/settings that differ[\s\S]*method +attribution +\(absent\)/);
      log.mockClear();
      await main(['run', file, '--db', db, '--no-progress']);
      const printed = log.mock.calls.map((c) => c.join(' ')).join('\n');
      expect(printed).toContain('attribution (AtP) against exact patching');
      expect(printed).toContain(`${pair.exact} / ${pair.estimate}`);
    } finally {
      log.mockRestore();
    }
  }, 300_000);
});
