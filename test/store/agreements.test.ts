// The agreements aggregate: one row per (exact run, AtP run), replaced on save, found from either
// run, checked against its schema on the way in and out.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EffectAgreement } from '../../src/evaluation/method-agreement.js';
import { Store } from '../../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-agreements-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const agreement: EffectAgreement = {
  n: 6,
  pearson: 0.5,
  spearman: null,
  signAgreement: 2 / 3,
  topK: [{ k: 5, shared: 4, fraction: 0.8 }],
  detections: { exact: 2, estimate: 1, both: 1, jaccard: 0.5 },
};

async function threeRuns(store: Store): Promise<number[]> {
  const modelId = await store.models.upsert({ fingerprint: 'm', name: 'tiny', path: '/m', architecture: 'gpt2', config: {} });
  const datasetId = await store.datasets.upsert({ fingerprint: 'd', task: 'ioi', settings: {}, pairs: [{ clean: [1] }] });
  const ids: number[] = [];
  for (const key of ['exact', 'atp', 'atp2']) ids.push((await store.runs.open({ pipeline: 'p', key, modelId, datasetId, settings: { key }, codeVersion: 'v' })).id);
  return ids;
}

describe('store.agreements', () => {
  it('saves, replaces and finds an agreement from either run', async () => {
    const store = await Store.open(join(dir, 'a.db'));
    try {
      const [exact, atp, atp2] = (await threeRuns(store)) as [number, number, number];
      await store.agreements.save(exact, atp, agreement);
      await store.agreements.save(exact, atp2, { ...agreement, pearson: -0.25 });
      const fromExact = await store.agreements.forRun(exact);
      expect(fromExact.map((r) => [r.exactRunId, r.estimateRunId, r.agreement.pearson])).toEqual([
        [exact, atp, 0.5],
        [exact, atp2, -0.25],
      ]);
      expect(fromExact[0]!.agreement).toEqual(agreement);
      // Saving the pair again replaces its row.
      await store.agreements.save(exact, atp, { ...agreement, n: 7 });
      const fromAtp = await store.agreements.forRun(atp);
      expect(fromAtp.map((r) => [r.exactRunId, r.agreement.n])).toEqual([[exact, 7]]);
      expect(await store.query('SELECT COUNT(*) AS n FROM method_agreements')).toEqual([{ n: 2 }]);
    } finally {
      await store.close();
    }
  });

  it('refuses a run against itself and values outside their range', async () => {
    const store = await Store.open(join(dir, 'b.db'));
    try {
      const [exact, atp] = (await threeRuns(store)) as [number, number];
      await expect(store.agreements.save(exact, exact, agreement)).rejects.toThrow('a run cannot be compared with itself');
      await expect(store.agreements.save(exact, atp, { ...agreement, pearson: 1.5 })).rejects.toThrow(/agreement of runs 1 \(exact\) and 2 \(estimate\): pearson/);
      await expect(store.agreements.save(exact, atp, { ...agreement, topK: [{ k: 0, shared: 0, fraction: 0 }] })).rejects.toThrow('topK[0].k: Too small');
      expect(await store.agreements.forRun(exact)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('a stored agreement that does not fit its schema is a clear error naming the runs', async () => {
    const path = join(dir, 'c.db');
    const store = await Store.open(path);
    try {
      const [exact, atp] = (await threeRuns(store)) as [number, number];
      await store.agreements.save(exact, atp, agreement);
      await store.connection.transaction(() => store.connection.run('UPDATE method_agreements SET agreement = \'{"n": -1}\''));
      await expect(store.agreements.forRun(atp)).rejects.toThrow(`${path}: agreement of runs ${exact} and ${atp} does not fit its schema: `);
    } finally {
      await store.close();
    }
  });
});
