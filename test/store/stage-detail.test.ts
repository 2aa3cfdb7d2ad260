// A run's detail goes in and out through its stage's schema: typed on read, checked on write, and
// details stored before they named their stage still read back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sqlite3 from 'sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import type { DiscoveryRunDetail, PatchingRunDetail, StageDetail } from '../../src/store/stage-detail.js';
import { Store } from '../../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-detail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function withRuns(count: number): Promise<{ store: Store; path: string; ids: number[] }> {
  const path = join(dir, `d${++n}.db`);
  const store = await Store.open(path);
  const modelId = await store.models.upsert({ fingerprint: 'm', name: 'tiny', path: '/m', architecture: 'gpt2', config: {} });
  const datasetId = await store.datasets.upsert({ fingerprint: 'd', task: 'induction', settings: {}, pairs: [] });
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push((await store.runs.open({ pipeline: 'p', key: `k${i}`, modelId, datasetId, settings: { i }, codeVersion: 'v' })).id);
  return { store, path, ids };
}

/** Sets a run's stored detail text directly, as an older patchwise (or a damaged file) would have left it. */
function setRawDetail(path: string, runId: number, detail: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(path, (err) => {
      if (err) return reject(err);
      db.run('UPDATE runs SET detail = ? WHERE id = ?', [detail, runId], (e) => db.close(() => (e ? reject(e) : resolve())));
    });
  });
}

const patching: PatchingRunDetail = {
  stage: 'patching',
  baselines: { clean: 0.9975, corrupted: 0.0266, normaliser: 0.9709 },
  sigma: 0.125,
  units: 4,
  groundTruth: { nodes: ['input', 'a0.h3', 'a1.h7', 'logits'], edges: ['a0.h3->a1.h7<k>', 'a1.h7->logits'], positionalEdges: ['input->a0.h3<q>'] },
};

describe('run detail by stage', () => {
  it('round-trips a patching and a discovery detail, typed on read', async () => {
    const { store, ids } = await withRuns(2);
    try {
      const [p, d] = ids as [number, number];
      const discovery: DiscoveryRunDetail = {
        stage: 'discovery',
        circuits: [
          { tau: 0.001, circuitId: 1, size: 5, faithfulness: 1.0003, randomFaithfulness: 1.09e-8 },
          { tau: 0.05, circuitId: 2, size: 0, faithfulness: 0 },
        ],
        auc: null,
      };
      await store.runs.finish(p, { seconds: 2, detail: patching });
      await store.runs.finish(d, { seconds: 3, detail: discovery });
      const readP = (await store.runs.get(p)).detail;
      const readD = (await store.runs.get(d)).detail;
      expect(readP).toEqual(patching);
      expect(readD).toEqual(discovery);
      // The union narrows on `stage`, without casts.
      const auc = (x: StageDetail | null): number | null | undefined => (x?.stage === 'discovery' ? x.auc : undefined);
      expect(auc(readD)).toBeNull();
      expect(readP?.stage === 'patching' ? readP.baselines.normaliser : undefined).toBe(0.9709);
    } finally {
      await store.close();
    }
  });

  it('refuses a detail that does not fit its schema, writing nothing', async () => {
    const { store, ids } = await withRuns(1);
    try {
      const id = ids[0]!;
      const bad = { ...patching, baselines: { ...patching.baselines, clean: NaN } };
      await expect(store.runs.finish(id, { seconds: 1, detail: bad })).rejects.toThrow(/detail of run 1: baselines\.clean: /);
      const missing = { stage: 'discovery', circuits: [{ tau: 0.1, circuitId: 1, size: 2 }], auc: null } as unknown as StageDetail;
      await expect(store.runs.finish(id, { seconds: 1, detail: missing })).rejects.toThrow(/circuits\[0\]\.faithfulness/);
      expect(await store.runs.get(id)).toMatchObject({ status: 'running', detail: null });
    } finally {
      await store.close();
    }
  });

  it('reads details stored without a stage by their fields, and names the run when a stored detail fits no stage', async () => {
    const { store, path, ids } = await withRuns(3);
    await store.close();
    const [p, d, junk] = ids as [number, number, number];
    const { stage: _p, ...legacyPatching } = patching;
    await setRawDetail(path, p, JSON.stringify(legacyPatching));
    await setRawDetail(path, d, JSON.stringify({ circuits: [{ tau: 0.01, circuitId: 3, size: 4, faithfulness: 0.5 }], auc: 0.75 }));
    await setRawDetail(path, junk, JSON.stringify({ invariants: 'ok' }));
    const again = await Store.open(path, { create: false });
    try {
      expect((await again.runs.get(p)).detail).toEqual(patching);
      expect((await again.runs.get(d)).detail).toEqual({ stage: 'discovery', circuits: [{ tau: 0.01, circuitId: 3, size: 4, faithfulness: 0.5 }], auc: 0.75 });
      const err = await again.runs.get(junk).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect(String((err as Error).message)).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: run 3: stored detail does not fit its stage's schema: `));
    } finally {
      await again.close();
    }
  });
});
