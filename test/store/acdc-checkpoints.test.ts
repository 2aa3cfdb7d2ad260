// The ACDC checkpoints aggregate: progress saved in steps loads back bit for bit (NaN and node-level
// decisions included), a writer that did not make the stored decisions is refused, saving from 0
// replaces, and saving the unit deletes the checkpoint but keeps the decisions as its log.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AcdcDecision } from '../../src/methods/acdc.js';
import type { AcdcProgress } from '../../src/methods/acdc-checkpoint.js';
import { Store } from '../../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-acdc-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const model = { fingerprint: 'm1', name: 'tiny', path: '/m', architecture: 'gpt2', config: {} };
const dataset = { fingerprint: 'd1', task: 'induction', settings: {}, pairs: [] };

/** n decisions with awkward values: float64s that do not fit a float32, a NaN, node-level (no receiver) ones. */
function decisions(count: number): AcdcDecision[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `d${i}`,
    sender: i,
    ...(i % 3 === 0 ? {} : { receiver: 100 + i }),
    before: 0.1 + i / 3,
    after: i === 4 ? Number.NaN : -1 / (i + 7),
    score: Math.PI * 1e-9 * (i - 2),
    pruned: i % 2 === 0,
  }));
}

function progress(count: number, cells = 19): AcdcProgress {
  const pruned = new Uint8Array(cells);
  for (let c = 0; c < cells; c += 3) pruned[c] = 1;
  return { key: 'k-abc', initial: -0.123456789012345, current: -(2 ** -40) - count, decisions: decisions(count), pruned };
}

describe('store.acdcCheckpoints', () => {
  let store: Store;
  let runId: number;
  beforeEach(async () => {
    store = await Store.open(join(dir, `db${++n}.db`));
    const modelId = await store.models.upsert(model);
    const datasetId = await store.datasets.upsert(dataset);
    runId = (await store.runs.open({ pipeline: 'p', key: 'r', modelId, datasetId, settings: {}, codeVersion: 'v' })).id;
  });
  afterEach(async () => store.close());

  it('saves in steps and loads back exactly what was saved last', async () => {
    const ck = store.acdcCheckpoints.for(runId, 'tau:0.1');
    expect(await ck.load()).toBeUndefined();
    await ck.save(progress(3), 0);
    await ck.save(progress(8), 3);
    const got = await ck.load();
    expect(got).toEqual(progress(8));
    expect(Object.is(got!.decisions[4]!.after, Number.NaN)).toBe(true);
    expect(await store.query('SELECT count(*) AS n FROM acdc_decisions')).toEqual([{ n: 8 }]);
    // Another unit of the same run is separate.
    expect(await store.acdcCheckpoints.load(runId, 'tau:0.2')).toBeUndefined();
  });

  it("refuses a writer whose count of stored decisions is not the checkpoint's, writing nothing", async () => {
    const ck = store.acdcCheckpoints.for(runId, 'tau:0.1');
    await ck.save(progress(5), 0);
    await expect(ck.save(progress(9), 3)).rejects.toThrow(/this writer stored 3 decisions, the checkpoint has 5 \(another process is running the unit\)/);
    await expect(store.acdcCheckpoints.save(runId, 'tau:0.3', progress(4), 2)).rejects.toThrow(/the checkpoint has none/);
    expect(await ck.load()).toEqual(progress(5));
  });

  it('saving from 0 replaces the stored progress', async () => {
    const ck = store.acdcCheckpoints.for(runId, 'tau:0.1');
    await ck.save(progress(7), 0);
    const other = { ...progress(2, 9), key: 'other' };
    await ck.save(other, 0);
    expect(await ck.load()).toEqual(other);
  });

  it('saving the unit deletes the checkpoint and keeps the decisions as its log', async () => {
    const ck = store.acdcCheckpoints.for(runId, 'tau:0.1');
    await ck.save(progress(6), 0);
    await store.runs.saveUnit(runId, 'tau:0.1', [], 1);
    expect(await ck.load()).toBeUndefined();
    expect(await store.acdcCheckpoints.decisions(runId, 'tau:0.1')).toEqual(decisions(6));
  });

  it('a header that disagrees with its decisions is an error naming the checkpoint', async () => {
    await store.acdcCheckpoints.save(runId, 'tau:0.1', progress(4), 0);
    await store.query('DELETE FROM acdc_decisions WHERE step = 3');
    await expect(store.acdcCheckpoints.load(runId, 'tau:0.1')).rejects.toThrow(/ACDC checkpoint of run \d+ unit tau:0\.1: 3 decisions stored, the header says 4/);
  });
});
